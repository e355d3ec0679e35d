"""Hostile sizes and rates: body, messages, max_tokens and headers are bounded; per-key rate
limits answer 429 `rate_limited` with Retry-After."""

from __future__ import annotations

import sqlite3
import time

import httpx
import pytest

from gateway.budgets.ratelimit import InProcessRateLimiter, Limits, RedisRateLimiter
from contracts.errors import OverLimit
from gateway.edge.errors import from_domain
from tests.processes import catalogue_for, start_gateway, start_mock_upstream, stop

HEADERS = {"X-Sobria-Use-Case": "translation"}


def _chat(gateway, key: str, **body) -> httpx.Response:
    payload = {"model": "test-small", "messages": [{"role": "user", "content": "bonjour"}], **body}
    return httpx.post(
        f"{gateway.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}", **HEADERS},
        json=payload,
        timeout=30,
    )


def test_a_body_over_the_limit_is_refused_with_413(secured):
    gateway, callers = secured
    response = _chat(gateway, callers.employee, messages=[{"role": "user", "content": "a" * 1_100_000}])

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_too_many_messages_are_refused(secured):
    gateway, callers = secured
    response = _chat(gateway, callers.employee, messages=[{"role": "user", "content": "x"}] * 600)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_messages"


def test_max_tokens_above_the_model_cap_is_capped(secured):
    gateway, callers = secured
    response = _chat(gateway, callers.employee, max_tokens=1_000_000)

    assert response.status_code == 200
    assert _recorded_max_tokens(gateway, response.headers["X-Request-Id"]) == 256


def _recorded_max_tokens(gateway, request_id: str, timeout_s: float = 15) -> int | None:
    """The ledger row's max_tokens, once the writer has flushed it."""
    deadline = time.monotonic() + timeout_s
    while True:
        connection = sqlite3.connect(gateway.data_dir / "ledger.db")
        try:
            row = connection.execute("SELECT max_tokens FROM usage_records WHERE request_id = ?", (request_id,)).fetchone()
        finally:
            connection.close()
        if row is not None or time.monotonic() > deadline:
            return None if row is None else row[0]
        time.sleep(0.1)


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    upstream = start_mock_upstream("--output-tokens", "8")
    env = {"SOBRIA_RATE_LIMIT_RPM": "3"}
    gateway = start_gateway(tmp_path_factory.mktemp("limited"), catalogue_for(upstream.base_url), env)
    yield gateway
    stop(gateway.process)
    stop(upstream.process)


def test_a_key_over_its_requests_per_minute_gets_429_rate_limited_with_retry_after(limited):
    key = limited.create_key("rita", "legal")
    statuses = [_chat(limited, key) for _ in range(4)]

    assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
    refused = statuses[3]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_one_key_over_its_limit_does_not_limit_another(limited):
    first, second = limited.create_key("sam", "legal"), limited.create_key("tom", "legal")
    for _ in range(4):
        _chat(limited, first)

    assert _chat(limited, second).status_code == 200


async def test_tokens_per_minute_count_prompt_and_allowed_output():
    limiter = InProcessRateLimiter(Limits(tokens_per_minute=1000), clock=lambda: 120.0)
    await limiter.admit("k", 600)

    with pytest.raises(OverLimit) as refused:
        await limiter.admit("k", 600)

    answered = from_domain(refused.value)
    assert answered.status == 429 and answered.code == "rate_limited" and answered.headers["Retry-After"] == "60"


async def test_a_new_minute_resets_the_counts():
    now = [100.0]
    limiter = InProcessRateLimiter(Limits(requests_per_minute=1), clock=lambda: now[0])
    await limiter.admit("k", 1)
    now[0] = 121.0

    await limiter.admit("k", 1)


async def test_redis_limits_are_shared_by_every_replica(redis_url, key_prefix):
    import redis.asyncio as aioredis

    clients = [aioredis.from_url(redis_url) for _ in range(2)]
    replicas = [RedisRateLimiter(c, Limits(requests_per_minute=2), prefix=key_prefix, clock=lambda: 60.0) for c in clients]
    try:
        await replicas[0].admit("k", 1)
        await replicas[1].admit("k", 1)
        with pytest.raises(OverLimit):
            await replicas[0].admit("k", 1)
    finally:
        keys = [k async for k in clients[0].scan_iter(match=key_prefix + "*")]
        if keys:
            await clients[0].delete(*keys)
        for client in clients:
            await client.aclose()


def test_headers_over_the_limit_are_refused_with_431_in_openai_shape(secured):
    gateway, callers = secured
    bulky = {"Authorization": f"Bearer {callers.employee}", **HEADERS, "Accept-Language": "fr"}

    refused = httpx.post(f"{gateway.base_url}/v1/chat/completions", headers={**bulky, "X-Padding": "a" * 200_000},
                         json={"model": "test-small", "messages": [{"role": "user", "content": "bonjour"}]}, timeout=30)
    many = httpx.get(f"{gateway.base_url}/v1/models", timeout=30,
                     headers={**bulky, **{f"X-Pad-{i}": "b" * 100 for i in range(200)}})
    fits = httpx.get(f"{gateway.base_url}/v1/models", headers={**bulky, "X-Padding": "a" * 8_000}, timeout=30)

    assert refused.status_code == 431
    error = refused.json()["error"]
    assert (error["code"], error["type"]) == ("headers_too_large", "invalid_request_error")
    assert "16384" in error["message"] and "en-têtes" in error["message"]
    assert many.status_code == 431
    assert fits.status_code == 200
