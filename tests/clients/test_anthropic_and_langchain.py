"""The official `anthropic` SDK (Messages API) and LangChain's `bind_tools`, against a real gateway."""

from __future__ import annotations

import anthropic
import pytest
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.clients.conftest import USE_CASE

WEATHER = {
    "name": "get_weather",
    "description": "Weather of a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def claude(client_gateway, employee_key) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=client_gateway.base_url, api_key=employee_key, max_retries=0,
                               default_headers=USE_CASE)


@pytest.mark.parametrize("model", ["tool-small", "tool-claude", "demo-small"])
def test_messages_create_with_tools_then_the_tool_result(claude, model):
    raw = claude.messages.with_raw_response.create(
        model=model, max_tokens=200, tools=[WEATHER], messages=[{"role": "user", "content": "Météo à Paris ?"}]
    )
    message = raw.parse()
    assert raw.headers["X-Sobria-Model"] == model
    use = next(block for block in message.content if block.type == "tool_use")
    assert use.name == "get_weather" and isinstance(use.input["city"], str)
    assert message.stop_reason == "tool_use" and message.usage.output_tokens > 0
    answer = claude.messages.create(model=model, max_tokens=200, tools=[WEATHER], messages=[
        {"role": "user", "content": "Météo à Paris ?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "19 °C"}]},
    ])
    assert answer.content[0].type == "text" and answer.content[0].text
    assert answer.stop_reason == "end_turn"


@pytest.mark.parametrize("model", ["tool-small", "tool-claude", "demo-small"])
def test_messages_stream_text_and_tool_use(claude, model):
    with claude.messages.stream(model=model, max_tokens=100, system="Sois bref",
                                messages=[{"role": "user", "content": "Bonjour"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.strip() and final.content[0].text == text
    with claude.messages.stream(model=model, max_tokens=100, tools=[WEATHER],
                                messages=[{"role": "user", "content": "Météo ?"}]) as stream:
        final = stream.get_final_message()
    use = next(block for block in final.content if block.type == "tool_use")
    assert use.name == "get_weather" and "city" in use.input
    assert final.stop_reason == "tool_use"


def test_messages_errors_are_clear(claude):
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model="tool-small", max_tokens=10, messages=[])


@tool
def get_weather(city: str) -> str:
    """Weather of a city."""
    return f"18 °C à {city}"


@pytest.mark.parametrize("model", ["tool-small", "tool-claude", "demo-small"])
def test_langchain_bind_tools(client_gateway, employee_key, model):
    llm = ChatOpenAI(model=model, base_url=f"{client_gateway.base_url}/v1", api_key=employee_key, max_retries=0,
                     default_headers=USE_CASE)
    reply = llm.bind_tools([get_weather]).invoke("Quel temps fait-il à Lille ?")
    assert reply.tool_calls and reply.tool_calls[0]["name"] == "get_weather"
    assert isinstance(reply.tool_calls[0]["args"]["city"], str)
    streamed = None
    for part in llm.bind_tools([get_weather]).stream("Et à Brest ?"):
        streamed = part if streamed is None else streamed + part
    assert streamed is not None and streamed.tool_calls[0]["name"] == "get_weather"
