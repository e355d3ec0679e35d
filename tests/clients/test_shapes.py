"""Request shapes without a server: the output cap field, demo placeholders, protocol refusals."""

from __future__ import annotations

import pytest

from gateway.providers.demo import demo_completion, placeholder
from gateway.edge.errors import GatewayError
from gateway.providers.relay import target_for
from gateway.request.translate_messages import MessagesRequest
from gateway.request.translate_messages import chat_messages as messages_to_chat
from gateway.request.translate_messages import chat_params as messages_params
from gateway.request.translate_responses import ResponsesRequest, chat_params
from gateway.providers.upstream import Upstream, UpstreamCall
from tests.upstream.test_relay_targets import spec


def test_the_output_cap_goes_in_the_field_each_target_takes():
    openai = target_for(spec({"model": "openai/o4-mini"}, {"OPENAI_API_KEY": "k"}, api_key_env="OPENAI_API_KEY"))
    mistral = target_for(spec({"model": "mistral/mistral-small-latest"}, {"MISTRAL_API_KEY": "k"},
                              api_key_env="MISTRAL_API_KEY"))
    own = target_for(spec({"model": "openai/llama3.1:8b", "api_base": "http://127.0.0.1:1/v1"}))
    assert (openai.cap_field, mistral.cap_field, own.cap_field) == ("max_completion_tokens", "max_tokens", None)
    upstream = Upstream.__new__(Upstream)
    call = UpstreamCall("m", [{"role": "user", "content": "x"}], 64, {}, cap_field="max_completion_tokens")
    assert upstream._payload(call, "max_tokens") == {"messages": call.messages, "max_tokens": 64}
    uncapped = UpstreamCall("m", call.messages, 4096, {}, send_cap=False)
    assert "max_tokens" not in upstream._payload(uncapped, "max_tokens")


def test_placeholders_validate_against_the_schemas_tools_use():
    schema = {
        "type": "object",
        "properties": {
            "unit": {"enum": ["celsius", "fahrenheit"]},
            "when": {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 6}]},
            "days": {"type": "array", "items": {"$ref": "#/$defs/day"}, "minItems": 2},
            "strict": {"type": ["boolean", "null"]},
        },
        "$defs": {"day": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}},
    }
    assert placeholder(schema) == {"unit": "celsius", "when": "demooo", "days": [{"n": 1}, {"n": 1}],
                                   "strict": False}
    nested = {"$ref": "#"}
    assert placeholder(nested) is None  # a self-reference ends instead of recursing forever


def test_demo_tool_choice_none_answers_in_text_and_a_named_tool_is_called():
    tools = [{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "b"}}]
    messages = [{"role": "user", "content": "x"}]
    text = demo_completion("d", messages, {"tools": tools, "tool_choice": "none"}, "demo")
    assert text["choices"][0]["message"]["content"] == "demo"
    named = demo_completion("d", messages, {"tools": tools, "tool_choice": {"type": "function",
                                                                            "function": {"name": "b"}}}, "demo")
    assert named["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "b"


def test_responses_refuses_what_it_cannot_serve_with_a_400():
    with pytest.raises(GatewayError) as stored:
        chat_params(ResponsesRequest(model="auto", input="x", previous_response_id="resp_1"))
    assert stored.value.status == 400 and stored.value.param == "previous_response_id"
    with pytest.raises(GatewayError) as hosted:
        chat_params(ResponsesRequest(model="auto", input="x", tools=[{"type": "web_search"}]))
    assert hosted.value.param == "tools"


def test_messages_tool_results_become_tool_messages_and_server_tools_are_refused():
    body = MessagesRequest(model="auto", max_tokens=10, system=[{"type": "text", "text": "Sois bref"}], messages=[
        {"role": "user", "content": "Météo ?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {"c": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "18", "is_error": True},
                                     {"type": "text", "text": "Et demain ?"}]},
    ], tool_choice={"type": "any"}, tools=[{"name": "w", "input_schema": {"type": "object"}}])
    chat = messages_to_chat(body)
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "tool", "user"]
    assert chat[2]["tool_calls"][0]["function"]["arguments"] == '{"c":"Paris"}'
    assert chat[3] == {"role": "tool", "tool_call_id": "t1", "content": "Error: 18"}
    assert messages_params(body)["tool_choice"] == "required"
    with pytest.raises(GatewayError):
        messages_params(MessagesRequest(model="auto", max_tokens=10, messages=[{"role": "user", "content": "x"}],
                                        tools=[{"type": "web_search_20250305", "name": "web_search"}]))
