"""The upstream contract, held on both paths (lean relay and litellm) against the mock.

Answers, usage, streams, retries, fallbacks, timeouts and error mapping must not
depend on which path reached the deployment.
"""

from __future__ import annotations

import pytest

from gateway.edge.errors import GatewayError
from gateway.providers.upstream import UpstreamCall
from tests.upstream.conftest import OUTPUT_TOKENS

MESSAGES = [{"role": "user", "content": "Bonjour"}]


def call(model: str, max_tokens: int | None = None, demo_text: str | None = None) -> UpstreamCall:
    return UpstreamCall(model=model, messages=MESSAGES, max_tokens=max_tokens, params={}, demo_text=demo_text)


async def collect(pieces) -> tuple[str, dict | None, bytes]:
    text, usage, sse = [], None, []
    async for piece in pieces:
        text.append(piece.text)
        usage = piece.usage or usage
        sse.append(piece.sse)
    return "".join(text), usage, b"".join(sse)


def calls_to(mock_upstream, model: str) -> int:
    return mock_upstream.stats().get(model, 0)


async def test_the_path_is_the_one_asked_for(make_upstream, path):
    upstream = make_upstream()
    assert upstream.path("ok") == path
    assert upstream.path("demo") == "demo"  # answered in process by gateway.providers.demo


async def test_plain_answer_comes_back_as_an_openai_dict_with_usage(make_upstream):
    upstream = make_upstream()
    spec = upstream.catalogue.get("ok")
    body, served = await upstream.complete(call("ok"), spec)
    assert served == "ok"
    assert body["choices"][0]["message"]["content"].split() == [f"w{i}" for i in range(OUTPUT_TOKENS)]
    assert body["usage"]["completion_tokens"] == OUTPUT_TOKENS


async def test_max_tokens_reaches_the_provider(make_upstream):
    upstream = make_upstream()
    body, _ = await upstream.complete(call("ok", max_tokens=3), upstream.catalogue.get("ok"))
    assert body["usage"]["completion_tokens"] == 3


async def test_stream_relays_every_token_and_catches_the_usage_chunk(make_upstream):
    upstream = make_upstream()
    pieces, served = await upstream.stream(call("ok"), upstream.catalogue.get("ok"))
    text, usage, sse = await collect(pieces)
    assert served == "ok"
    assert text.split() == [f"w{i}" for i in range(OUTPUT_TOKENS)]
    assert usage["completion_tokens"] == OUTPUT_TOKENS


async def test_stream_events_are_whole_sse_events_naming_the_served_model(make_upstream):
    upstream = make_upstream()
    pieces, _ = await upstream.stream(call("ok"), upstream.catalogue.get("ok"))
    _, _, sse = await collect(pieces)
    events = [e for e in sse.split(b"\n\n") if e]
    assert events and all(e.startswith(b"data:") for e in events)
    assert all(b'"ok"' in e for e in events)
    assert b"[DONE]" not in sse and b'"usage"' not in sse


async def test_a_500_is_retried_then_falls_back(make_upstream, mock_upstream):
    upstream = make_upstream(fallbacks={"fail-500": ["ok-backup"]}, retries=1)
    before = calls_to(mock_upstream, "fail-500")
    body, served = await upstream.complete(call("fail-500"), upstream.catalogue.get("fail-500"))
    assert served == "ok-backup"
    assert body["choices"][0]["message"]["content"]
    assert calls_to(mock_upstream, "fail-500") - before == 2


async def test_a_stream_falls_back_before_it_opens(make_upstream):
    upstream = make_upstream(fallbacks={"fail-500": ["ok-backup"]})
    pieces, served = await upstream.stream(call("fail-500"), upstream.catalogue.get("fail-500"))
    text, _, _ = await collect(pieces)
    assert served == "ok-backup" and text


async def test_when_every_deployment_fails_the_caller_gets_502(make_upstream):
    upstream = make_upstream(fallbacks={"fail-500": ["fail-500-backup"]})
    with pytest.raises(GatewayError) as caught:
        await upstream.complete(call("fail-500"), upstream.catalogue.get("fail-500"))
    assert (caught.value.status, caught.value.code) == (502, "upstream_error")


async def test_a_timeout_gives_504(make_upstream):
    upstream = make_upstream(timeout_s=0.3, retries=0)
    with pytest.raises(GatewayError) as caught:
        await upstream.complete(call("slow"), upstream.catalogue.get("slow"))
    assert (caught.value.status, caught.value.code) == (504, "upstream_timeout")


async def test_malformed_json_gives_502(make_upstream):
    upstream = make_upstream(retries=0)
    with pytest.raises(GatewayError) as caught:
        await upstream.complete(call("garbage"), upstream.catalogue.get("garbage"))
    assert (caught.value.status, caught.value.code) == (502, "upstream_error")


async def test_a_provider_400_is_neither_retried_nor_failed_over(make_upstream, mock_upstream):
    upstream = make_upstream(fallbacks={"bad-request": ["ok-backup"]}, retries=2)
    before = calls_to(mock_upstream, "bad-request")
    with pytest.raises(GatewayError) as caught:
        await upstream.complete(call("bad-request"), upstream.catalogue.get("bad-request"))
    assert (caught.value.status, caught.value.code) == (400, "invalid_request")
    assert calls_to(mock_upstream, "bad-request") - before == 1


async def test_a_stream_cut_mid_way_raises_502_after_the_tokens_already_relayed(make_upstream):
    upstream = make_upstream()
    pieces, _ = await upstream.stream(call("cut"), upstream.catalogue.get("cut"))
    received: list[str] = []
    with pytest.raises(GatewayError) as caught:
        async for piece in pieces:
            received.append(piece.text)
    assert (caught.value.status, caught.value.code) == (502, "upstream_error")
    assert "".join(received).split()[0] == "w0"


async def test_failed_attempts_are_counted_per_deployment(make_upstream):
    upstream = make_upstream(fallbacks={"fail-500": ["ok-backup"]}, retries=1)
    seen: list[tuple[str, str]] = []
    upstream.errors = type("Errors", (), {"upstream_error": lambda self, d, c: seen.append((d, c))})()
    await upstream.complete(call("fail-500"), upstream.catalogue.get("fail-500"))
    assert seen == [("fail-500", "upstream_error"), ("fail-500", "upstream_error")]


async def test_demo_model_answers_through_litellm_with_the_given_text(make_upstream):
    upstream = make_upstream()
    body, served = await upstream.complete(call("demo", demo_text="placeholder answer"), upstream.catalogue.get("demo"))
    assert served == "demo"
    assert body["choices"][0]["message"]["content"] == "placeholder answer"
