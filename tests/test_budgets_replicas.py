"""Budgets across gateway replicas sharing one Redis and one PostgreSQL.

Each test starts its own redis-server on a free port (it stops it on purpose) and a
fresh PostgreSQL database; the shared servers are never touched.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.processes import mock_model, start_gateway, start_mock_upstream, stop
from tests.reliability.servers import start_own_redis

OUTPUT_TOKENS = 20
PRICE_MICRO_EUR_PER_REQUEST = 20  # 1 EUR per million output tokens, free input


def catalogue(upstream_url: str) -> str:
    """Models whose cost per request is known exactly: 20 output tokens, input free."""
    return "version: replicas\nmodels:" + "".join(
        mock_model(name, tier, upstream_url, "0", "1", max_output_tokens=OUTPUT_TOKENS)
        for name, tier in (("test-small", "small"), ("test-medium", "medium"), ("test-large", "large"))
    ) + "\n"


FALLBACKS = {"small": ["test-small"], "medium": ["test-medium"], "large": ["test-large"]}


@pytest.fixture
def redis_server():
    server = start_own_redis()
    yield server
    server.stop()


@pytest.fixture
def upstream():
    mock = start_mock_upstream("--output-tokens", str(OUTPUT_TOKENS))
    yield mock
    stop(mock.process)


def policy() -> str:
    from tests.processes import policy_for

    return policy_for(FALLBACKS)


def start_replicas(tmp_path, upstream, redis_url: str, database_url: str, count: int, **env: str):
    base = {
        "SOBRIA_REDIS_URL": redis_url,
        "SOBRIA_DATABASE_URL": database_url,
        "SOBRIA_PSEUDONYM_KEY": "replicas-share-this-secret",
        **env,
    }

    def start(i: int):
        return start_gateway(tmp_path / f"replica{i}", catalogue(upstream.base_url), base, policy_yaml=policy())

    first = start(0)  # creates the schema and the admin key; the others start together after it
    with ThreadPoolExecutor(max_workers=max(1, count - 1)) as pool:
        return [first, *pool.map(start, range(1, count))]


async def _fire(urls: list[str], key: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=60) as client:
        async def one(i: int) -> httpx.Response:
            return await client.post(
                f"{urls[i % len(urls)]}/v1/chat/completions",
                headers={"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation"},
                json={"model": "auto", "max_tokens": OUTPUT_TOKENS,
                      "messages": [{"role": "user", "content": "Bonjour"}]},
            )

        return await asyncio.gather(*(one(i) for i in range(count)))


def test_three_replicas_admit_exactly_the_requests_the_budget_has_room_for(
    tmp_path, upstream, redis_server, postgres_database
):
    room = 7
    limit_eur = f"{room * PRICE_MICRO_EUR_PER_REQUEST / 1_000_000:.6f}"
    replicas = start_replicas(
        tmp_path, upstream, redis_server.url, postgres_database, 3,
        SOBRIA_BUDGETS__EMPLOYEE__EUR=limit_eur, SOBRIA_BUDGETS__EMPLOYEE__GCO2E_G="100000",
    )
    try:
        key = replicas[0].create_key("heidi", "ops")
        responses = asyncio.run(_fire([r.base_url for r in replicas], key, 64))
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) == room
        assert statuses.count(429) == 64 - room
        spent = sum(int(round(float(r.headers["X-Sobria-Cost-EUR"]) * 1_000_000)) for r in responses
                    if r.status_code == 200)
        assert spent == room * PRICE_MICRO_EUR_PER_REQUEST
        assert upstream.stats().get("test-small", 0) == room
    finally:
        for replica in replicas:
            stop(replica.process)


def test_redis_down_fails_closed_with_503_and_forwards_nothing(tmp_path, upstream, redis_server, postgres_database):
    (gateway,) = start_replicas(tmp_path, upstream, redis_server.url, postgres_database, 1)
    try:
        key = gateway.create_key("ivan", "ops")
        ok = asyncio.run(_fire([gateway.base_url], key, 1))[0]
        assert ok.status_code == 200
        forwarded = upstream.stats().get("test-small", 0)
        redis_server.stop()
        refused = asyncio.run(_fire([gateway.base_url], key, 1))[0]
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "budget_unavailable"
        assert upstream.stats().get("test-small", 0) == forwarded
    finally:
        stop(gateway.process)


def test_redis_down_fails_open_when_configured_and_still_answers(tmp_path, upstream, redis_server, postgres_database):
    (gateway,) = start_replicas(
        tmp_path, upstream, redis_server.url, postgres_database, 1,
        SOBRIA_BUDGETS__ON_REDIS_UNAVAILABLE="fail_open",
    )
    try:
        key = gateway.create_key("judy", "ops")
        redis_server.stop()
        answered = asyncio.run(_fire([gateway.base_url], key, 1))[0]
        assert answered.status_code == 200
    finally:
        stop(gateway.process)


def test_budget_survives_a_redis_restart_by_rebuilding_from_the_ledger(
    tmp_path, upstream, redis_server, postgres_database
):
    room = 3
    (gateway,) = start_replicas(
        tmp_path, upstream, redis_server.url, postgres_database, 1,
        SOBRIA_BUDGETS__EMPLOYEE__EUR=f"{room * PRICE_MICRO_EUR_PER_REQUEST / 1_000_000:.6f}",
        SOBRIA_BUDGETS__EMPLOYEE__GCO2E_G="100000",
        SOBRIA_BUDGETS__REBUILD_GRACE_S="0",  # one replica: no other replica's holds to wait for
    )
    try:
        key = gateway.create_key("kim", "ops")
        first = [r.status_code for r in asyncio.run(_fire([gateway.base_url], key, 2))]
        assert first == [200, 200]
        time.sleep(0.5)  # let the ledger writer flush (interval 50 ms in tests)
        redis_server.stop()
        redis_server.start()  # empty: this Redis keeps nothing on disk
        _wait_for_budgets(gateway.base_url, key)  # fail closed until the store reconnects (about a second)
        after = [r.status_code for r in asyncio.run(_fire([gateway.base_url], key, 3))]
        assert after.count(200) == room - 2
    finally:
        stop(gateway.process)


def _wait_for_budgets(base_url: str, key: str, attempts: int = 50) -> None:
    """Poll the caller's own usage (which reads the budget counters) until it answers 200."""
    for _ in range(attempts):
        if httpx.get(f"{base_url}/v1/me/usage", headers={"Authorization": f"Bearer {key}"}).status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError("the budget store did not come back after Redis restarted")
