"""The official `openai` SDK against a real gateway: chat, streams, tools, JSON, Responses, embeddings."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from openai import OpenAI

from tests.clients.conftest import USE_CASE

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def client(client_gateway, employee_key) -> OpenAI:
    return OpenAI(base_url=f"{client_gateway.base_url}/v1", api_key=employee_key, max_retries=0,
                  default_headers=USE_CASE)


def test_parameters_reach_the_provider_as_sent(client, loopback):
    raw = client.chat.completions.with_raw_response.create(
        model="tool-small", messages=[{"role": "user", "content": "Bonjour"}], user="u-42",
        reasoning_effort="low", max_completion_tokens=64, seed=7,
    )
    assert raw.headers["X-Sobria-Model"] == "tool-small"
    sent = loopback.last("/v1/chat/completions")
    assert sent["user"] == "u-42" and sent["reasoning_effort"] == "low" and sent["seed"] == 7
    assert sent["max_completion_tokens"] == 64 and "max_tokens" not in sent


def test_no_output_cap_is_sent_when_nobody_asked_for_one(client, loopback):
    client.chat.completions.create(model="tool-small", messages=[{"role": "user", "content": "Salut"}])
    sent = loopback.last("/v1/chat/completions")
    assert "max_tokens" not in sent and "max_completion_tokens" not in sent


@pytest.mark.parametrize("model", ["tool-small", "demo-small"])
def test_the_naive_stream_loop_reads_every_chunk(client, model):
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Écris une phrase."}], stream=True
    )
    text = ""
    for chunk in stream:
        text += chunk.choices[0].delta.content or ""
    assert text.strip()


def test_usage_chunk_comes_only_when_asked(client):
    stream = client.chat.completions.create(
        model="tool-small", messages=[{"role": "user", "content": "Hello"}], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens > 0
    assert float(chunks[-1].usage.model_extra["sobria"]["cost_eur"]) > 0
    assert all(c.choices for c in chunks[:-1])


def test_a_stream_without_include_usage_carries_the_figures_in_a_trailing_comment(client_gateway, employee_key):
    body = {"model": "tool-small", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    with httpx.stream("POST", f"{client_gateway.base_url}/v1/chat/completions", json=body,
                      headers={"Authorization": f"Bearer {employee_key}", **USE_CASE}) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    trailer = lines[-2]
    assert trailer.startswith(": sobria-usage ")
    assert json.loads(trailer.removeprefix(": sobria-usage "))["sobria"]["model"] == "tool-small"
    assert all('"choices":[]' not in line for line in lines)


@pytest.mark.parametrize("model", ["tool-small", "tool-claude", "demo-small"])
def test_tool_calls_come_back_and_are_charged(client, model):
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "Quel temps à Paris ?"}], tools=[WEATHER]
    )
    completion = raw.parse()
    assert raw.headers["X-Sobria-Model"] == model
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage.completion_tokens > 0
    assert float(raw.headers["X-Sobria-Cost-EUR"]) > 0


@pytest.mark.parametrize("model", ["tool-small", "tool-claude", "demo-small"])
def test_tool_calls_stream_back(client, model):
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Quel temps à Lyon ?"}], tools=[WEATHER], stream=True
    )
    name, arguments = "", ""
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or ():
            name += call.function.name or ""
            arguments += call.function.arguments or ""
    assert name == "get_weather"
    assert "city" in json.loads(arguments)


def test_a_tool_result_gets_a_text_answer(client):
    messages = [
        {"role": "user", "content": "Quel temps à Paris ?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 °C, soleil"},
    ]
    for model in ("tool-small", "tool-claude", "demo-small"):
        answer = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
        assert answer.choices[0].message.content


def test_demo_json_mode_and_json_schema_answer_valid_json(client):
    plain = client.chat.completions.create(
        model="demo-small", messages=[{"role": "user", "content": "JSON please"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(plain.choices[0].message.content), dict)
    schema = {"type": "object", "properties": {"title": {"type": "string"}, "tags": {"type": "array", "items": {
        "type": "string"}}, "score": {"type": "integer"}}, "required": ["title", "tags", "score"]}
    shaped = client.chat.completions.create(
        model="demo-small", messages=[{"role": "user", "content": "Titre"}],
        response_format={"type": "json_schema", "json_schema": {"name": "t", "schema": schema}},
    )
    value = json.loads(shaped.choices[0].message.content)
    assert isinstance(value["title"], str) and isinstance(value["tags"], list) and isinstance(value["score"], int)


def test_json_schema_is_forwarded_to_the_provider(client, loopback):
    form = {"type": "json_schema", "json_schema": {"name": "t", "schema": {"type": "object"}}}
    client.chat.completions.create(model="tool-small", messages=[{"role": "user", "content": "x"}], response_format=form)
    assert loopback.last("/v1/chat/completions")["response_format"] == form


def test_demo_n_gives_that_many_choices(client):
    answer = client.chat.completions.create(model="demo-small", n=2, messages=[{"role": "user", "content": "Deux"}])
    assert [c.index for c in answer.choices] == [0, 1]
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="demo-small", n=0, messages=[{"role": "user", "content": "x"}])
    assert "litellm" not in str(refused.value).lower()


def test_responses_create_plain_streamed_and_with_tools(client):
    raw = client.responses.with_raw_response.create(model="tool-small", input="Dis bonjour", instructions="Sois bref")
    response = raw.parse()
    assert response.output_text.strip() and raw.headers["X-Sobria-Model"] == "tool-small"
    assert response.usage.output_tokens > 0 and "sobria" in response.usage.model_extra
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER["function"]["parameters"]}
    called = client.responses.create(model="tool-small", input="Météo à Nice ?", tools=[tool])
    call = next(item for item in called.output if item.type == "function_call")
    assert call.name == "get_weather" and "city" in json.loads(call.arguments)
    followed = client.responses.create(model="tool-small", tools=[tool], input=[
        {"role": "user", "content": "Météo à Nice ?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "21 °C"},
    ])
    assert followed.output_text
    events = list(client.responses.create(model="demo-small", input="Raconte", stream=True))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas and events[-1].type == "response.completed"
    assert events[-1].response.output_text == deltas
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_responses_stream_tool_call(client):
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER["function"]["parameters"]}
    events = list(client.responses.create(model="tool-claude", input="Météo ?", tools=[tool], stream=True))
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done and "city" in json.loads(done[0].arguments)


def test_embeddings_are_charged_and_say_impacts_are_not_estimated(client, loopback):
    raw = client.embeddings.with_raw_response.create(model="embed-small", input=["un", "deux"])
    result = raw.parse()
    assert len(result.data) == 2 and result.usage.prompt_tokens == 10
    assert raw.headers["X-Sobria-Impacts"] == "not-estimated"
    assert float(raw.headers["X-Sobria-Cost-EUR"]) > 0
    assert loopback.last("/v1/embeddings")["model"] == "embed-small"
    demo = client.embeddings.create(model="demo-embed", input="bonjour", dimensions=8)
    assert len(demo.data[0].embedding) == 8
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="tool-small", input="x")
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="embed-small", messages=[{"role": "user", "content": "x"}])


def test_models_retrieve_and_unknown_paths(client, client_gateway, employee_key):
    assert client.models.retrieve("tool-small").id == "tool-small"
    assert client.models.retrieve("auto").id == "auto"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")
    missing = httpx.post(f"{client_gateway.base_url}/v1/completions", json={"model": "auto", "prompt": "x"},
                         headers={"Authorization": f"Bearer {employee_key}"})
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == "unknown_endpoint" and "/v1/responses" in error["message"]


def test_json_schema_reaches_an_anthropic_deployment_through_litellm(client, loopback):
    schema = {"type": "object", "properties": {"verdict_unique_field": {"type": "string"}},
              "required": ["verdict_unique_field"]}
    form = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema}}
    client.chat.completions.create(model="tool-claude", messages=[{"role": "user", "content": "x"}],
                                   response_format=form)
    sent = loopback.last("/anthropic/v1/messages")
    assert "verdict_unique_field" in json.dumps(sent), sent
