"""PostgreSQL goes away under traffic: requests are still served (or refused, by setting),
ledger records wait in the local spool and reach the database once, when it returns."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest

from tests.processes import catalogue_for, start_gateway, start_mock_upstream, stop

USE_CASE = {"X-Sobria-Use-Case": "translation"}
BODY = {"model": "test-small", "messages": [{"role": "user", "content": "Traduis: bonjour"}]}


@pytest.fixture(scope="module")
def upstream():
    mock = start_mock_upstream("--output-tokens", "8")
    yield mock
    stop(mock.process)


def _send(base_url: str, key: str, count: int) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {key}", **USE_CASE}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        return [client.post("/v1/chat/completions", headers=headers, json=BODY) for _ in range(count)]


async def _ledger(dsn: str) -> list[str]:
    connection = await asyncpg.connect(dsn)
    try:
        return [r["request_id"] for r in await connection.fetch("SELECT request_id FROM usage_records")]
    finally:
        await connection.close()


def _wait_for_rows(dsn: str, expected: int, timeout_s: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        ids = asyncio.run(_ledger(dsn))
        if len(ids) >= expected or time.monotonic() > deadline:
            return ids
        time.sleep(0.2)


def test_requests_are_served_during_a_database_outage_and_their_rows_arrive_once_after(upstream, own_postgres, tmp_path):
    gateway = start_gateway(tmp_path, catalogue_for(upstream.base_url), {"SOBRIA_DATABASE_URL": own_postgres.url})
    dsn = own_postgres.url.replace("+asyncpg", "")
    try:
        key = gateway.create_key("henri", "legal")
        before = _send(gateway.base_url, key, 10)
        own_postgres.stop()
        during = _send(gateway.base_url, key, 30)
        spooled_bytes = sum(p.stat().st_size for p in (gateway.data_dir / "spool").glob("*.jsonl"))
        own_postgres.start()
        after = _send(gateway.base_url, key, 10)

        responses = before + during + after
        assert [r.status_code for r in responses] == [200] * 50
        assert spooled_bytes > 0
        answered = {r.headers["X-Request-Id"] for r in responses}
        ids = _wait_for_rows(dsn, 50)
        assert len(ids) == len(set(ids)) == 50
        assert set(ids) == answered
    finally:
        stop(gateway.process)


def test_refuse_mode_answers_503_while_the_database_is_down(upstream, own_postgres, tmp_path):
    env = {"SOBRIA_DATABASE_URL": own_postgres.url, "SOBRIA_DATABASE_DOWN_MODE": "refuse"}
    gateway = start_gateway(tmp_path, catalogue_for(upstream.base_url), env)
    try:
        key = gateway.create_key("irene", "legal")
        assert _send(gateway.base_url, key, 1)[0].status_code == 200
        own_postgres.stop()
        time.sleep(0.6)
        refused = _send(gateway.base_url, key, 3)
        own_postgres.start()
        time.sleep(0.6)
        served = _send(gateway.base_url, key, 1)

        assert [r.status_code for r in refused] == [503] * 3
        assert refused[0].json()["error"]["code"] == "database_unavailable"
        assert served[0].status_code == 200
    finally:
        stop(gateway.process)
