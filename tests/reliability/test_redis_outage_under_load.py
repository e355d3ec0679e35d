"""Redis stops and comes back empty while two replicas are under steady load.

The budget (fail_closed) would be exhausted by the load. While Redis is down every
request is refused with 503 `budget_unavailable` and none reaches the upstream; once
it is back, the counters are rebuilt from the ledger, so the budget is not handed out
a second time: the ledger's total for the employee never passes the limit by more
than one request's reservation, and the counters end equal to the ledger.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from tests.processes import start_mock_upstream, stop
from tests.test_budgets_replicas import OUTPUT_TOKENS, PRICE_MICRO_EUR_PER_REQUEST, start_replicas

ROOM = 60  # requests the budget has room for
SENDERS = 6
PAUSE_S = 0.1  # between one sender's requests: steady, not flat out


@dataclass
class Outcome:
    sent_at: float
    done_at: float
    status: int
    code: str | None


@pytest.fixture
def upstream():
    mock = start_mock_upstream("--output-tokens", str(OUTPUT_TOKENS), "--delay-ms", "10")
    yield mock
    stop(mock.process)


async def _load(urls: list[str], key: str, outcomes: list[Outcome], stopping: asyncio.Event) -> None:
    body = {"model": "auto", "max_tokens": OUTPUT_TOKENS, "messages": [{"role": "user", "content": "Bonjour"}]}
    headers = {"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation"}

    async def sender(client: httpx.AsyncClient, url: str) -> None:
        while not stopping.is_set():
            sent_at = time.monotonic()
            response = await client.post(f"{url}/v1/chat/completions", headers=headers, json=body)
            code = response.json()["error"]["code"] if response.status_code != 200 else None
            outcomes.append(Outcome(sent_at, time.monotonic(), response.status_code, code))
            await asyncio.sleep(PAUSE_S)

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(sender(client, urls[i % len(urls)]) for i in range(SENDERS)))


async def _scenario(urls, key, redis, upstream) -> dict:
    outcomes: list[Outcome] = []
    stopping = asyncio.Event()
    load = asyncio.create_task(_load(urls, key, outcomes, stopping))
    await asyncio.sleep(1.0)
    await asyncio.to_thread(redis.stop)
    down_at = time.monotonic()
    await asyncio.sleep(0.5)  # requests admitted before the stop finish
    forwarded_down = upstream.stats().get("test-small", 0)
    await asyncio.sleep(1.5)
    forwarded_before_restart = upstream.stats().get("test-small", 0)
    up_from = time.monotonic()
    await asyncio.to_thread(redis.start)
    await asyncio.sleep(3.0)
    stopping.set()
    await load
    return {
        "outcomes": outcomes,
        "down_at": down_at,
        "up_from": up_from,
        "forwarded_during_outage": forwarded_before_restart - forwarded_down,
    }


async def _ledger_micro_eur(database_url: str, key_id: str) -> tuple[int, int]:
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS n, coalesce(sum(cost_micro_eur), 0) AS spent FROM usage_records"
            " WHERE key_id = $1 AND http_status = 200",
            key_id,
        )
        return int(row["n"]), int(row["spent"])
    finally:
        await connection.close()


def test_redis_restarted_under_load_fails_closed_then_rebuilds_without_overspending(
    tmp_path, upstream, own_redis, postgres_database
):
    limit_micro = ROOM * PRICE_MICRO_EUR_PER_REQUEST
    replicas = start_replicas(
        tmp_path, upstream, own_redis.url, postgres_database, 2,
        SOBRIA_BUDGETS__EMPLOYEE__EUR=f"{limit_micro / 1_000_000:.6f}",
        SOBRIA_BUDGETS__EMPLOYEE__GCO2E_G="100000",
        # What is pinned here is the rebuild from the ledger; the re-apply grace after an
        # empty Redis (tests/budgets/test_hostile_budgets.py) would refuse the first second.
        SOBRIA_BUDGETS__REBUILD_GRACE_S="0",
    )
    try:
        key = replicas[0].create_key("lena", "ops")
        result = asyncio.run(_scenario([r.base_url for r in replicas], key, own_redis, upstream))
        time.sleep(0.5)  # ledger writers flush every 50 ms in tests
        usage = httpx.get(f"{replicas[1].base_url}/v1/me/usage", headers={"Authorization": f"Bearer {key}"}).json()
        rebuilt = any("rebuilt" in r.log() and "from the ledger" in r.log() for r in replicas)
    finally:
        for replica in replicas:
            stop(replica.process)

    outcomes: list[Outcome] = result["outcomes"]
    during = [o for o in outcomes if o.sent_at > result["down_at"] and o.done_at < result["up_from"]]
    before = [o for o in outcomes if o.done_at < result["down_at"]]
    after = [o for o in outcomes if o.sent_at > result["up_from"]]
    answered_after = [o for o in after if o.status == 200]
    rows, spent = asyncio.run(_ledger_micro_eur(postgres_database, key.removeprefix("sk-sobria-")[:8]))
    [budget] = [b for b in usage["budgets"] if b["scope"] == "employee" and b["unit"] == "EUR"]
    counted = round(float(budget["spent"]) * 1_000_000)
    print(
        f"Redis restart under load: {sum(o.status == 200 for o in before)} answered before, "
        f"{len(during)} refused during ({result['forwarded_during_outage']} forwarded), "
        f"{len(answered_after)} answered and {sum(o.status == 429 for o in after)} over budget after; "
        f"ledger {rows} rows, {spent} µEUR for a limit of {limit_micro}; counters {counted} µEUR"
    )

    assert 0 < sum(o.status == 200 for o in before) < ROOM
    assert len(during) >= 10
    assert {(o.status, o.code) for o in during} == {(503, "budget_unavailable")}
    assert result["forwarded_during_outage"] == 0
    assert rebuilt
    assert answered_after, "no request was admitted once Redis was back"
    assert any(o.status == 429 and o.code == "budget_exceeded" for o in after), "the load did not exhaust the budget"
    assert {o.status for o in outcomes} <= {200, 429, 503}
    assert rows == sum(o.status == 200 for o in outcomes)
    assert spent <= limit_micro + PRICE_MICRO_EUR_PER_REQUEST
    assert counted == spent
    assert budget["reserved"] == "0.000000"
