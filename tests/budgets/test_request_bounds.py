"""What a request is reserved for, and what an answer is charged, from the request's own fields."""

from __future__ import annotations

import json

import pytest

from gateway.request.outcome import charged_usage
from gateway.request.tokens import (
    IMAGE_HIGH_DETAIL_MAX_TOKENS,
    IMAGE_LOW_DETAIL_TOKENS,
    choices_asked,
    completion_output_tokens,
    input_bound,
    prediction_bound,
)


def test_the_input_bound_counts_every_billed_part_one_token_per_byte():
    tools = [{"type": "function", "function": {"name": "lookup", "description": "é" * 1000}}]
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "日本語" * 100},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                                     {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}]},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\": 1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "r" * 500},
    ]
    bound = input_bound(messages, {"tools": tools, "response_format": {"type": "json_schema", "schema": {"a": 1}}})
    text_bytes = len(("日本語" * 100).encode())
    assert bound.images == 2
    assert bound.worst >= text_bytes + 2000 + 500 + IMAGE_HIGH_DETAIL_MAX_TOKENS + IMAGE_LOW_DETAIL_TOKENS
    assert bound.estimate < bound.worst


def test_a_400_kb_tools_array_is_not_free():
    tools = [{"type": "function", "function": {"name": f"t{i}", "description": "d" * 2000}} for i in range(200)]
    bound = input_bound([{"role": "user", "content": "hi"}], {"tools": tools})
    assert bound.worst > len(json.dumps(tools)) * 0.99


@pytest.mark.parametrize("n", [0, 129, "5", True, 2.5])
def test_n_outside_1_to_128_is_refused(n):
    with pytest.raises(ValueError):
        choices_asked({"n": n})


def test_counted_output_covers_every_choice_and_tool_call():
    body = {"choices": [
        {"message": {"content": "a" * 40}},
        {"message": {"content": None, "tool_calls": [{"function": {"name": "f", "arguments": "b" * 39}}]}},
    ]}
    assert completion_output_tokens(body) == 10 + 10


def test_missing_usage_is_counted_and_impossible_figures_are_clamped():
    assert charged_usage(None, 12, 30, 100, 50).source == "counted"
    negative = charged_usage({"prompt_tokens": 10, "completion_tokens": -50}, 12, 30, 100, 50)
    assert (negative.output_tokens, negative.source) == (30, "clamped")
    absurd = charged_usage({"prompt_tokens": 10, "completion_tokens": 10**12}, 12, 30, 100, 50)
    assert (absurd.output_tokens, absurd.source) == (50, "clamped")
    honest = charged_usage({"prompt_tokens": 10, "completion_tokens": 40}, 12, 30, 100, 50)
    assert (honest.input_tokens, honest.output_tokens, honest.source) == (10, 40, "provider")


def test_a_prediction_bounds_extra_output_one_token_per_byte():
    assert prediction_bound({}) == 0
    assert prediction_bound({"prediction": {"type": "content", "content": "é" * 10}}) == 20
    parts = [{"type": "text", "text": "abc"}]
    assert prediction_bound({"prediction": {"type": "content", "content": parts}}) == len(json.dumps(parts, separators=(",", ":")))
