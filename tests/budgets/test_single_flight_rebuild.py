"""After the budget counters are lost, concurrent requests share one ledger read per
counter (single flight), each seeded from the roll-ups; a read that hangs makes
waiters give up after a bounded wait, and the next request reads again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from gateway.budgets.ledger_source import LedgerRebuildSource, RebuildTimeout
from gateway.budgets.redis import RedisBudgetStore
from gateway.budgets.store import EUR, Amount, BudgetLimit
from gateway.ledger import db
from gateway.ledger.writer import LedgerWriter

NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
EMPLOYEES = [f"e{i:02d}" for i in range(64)]


def spending(employee: str, at: datetime, cost: int) -> dict:
    return {
        "request_id": f"req-{employee}-{at.timestamp()}", "started_at": at, "finished_at": at,
        "employee_pseudonym": employee, "department": "finance", "roles": "employee", "key_id": "k",
        "use_case": "translation", "requested_model": "auto", "served_model": "small", "status": "ok",
        "http_status": 200, "stream": False, "demo": False, "input_tokens": 10, "output_tokens": 10,
        "latency_ms": 1.0, "cost_micro_eur": cost, "gwp_ug": 1, "gwp_g_min": 0.0, "gwp_g_max": 0.0,
        "gwp_market_ug": None, "energy_wh": 0.0, "energy_wh_min": 0.0, "energy_wh_max": 0.0, "water_ml": 0.0,
        "adpe_kgsbeq": 0.0, "pe_mj": 0.0,
    }


def limits_of(employee: str) -> list[BudgetLimit]:
    return [BudgetLimit(f"employee:{employee}", EUR, 10**9), BudgetLimit("department:finance", EUR, 10**12),
            BudgetLimit("org", EUR, 10**12)]


@pytest.fixture
async def ledger(postgres_database):
    await db.upgrade(postgres_database)
    engine = db.make_engine(postgres_database)
    writer = LedgerWriter(engine, flush_interval_s=60)
    for n, employee in enumerate(EMPLOYEES):
        for hours_ago in (1, 30, 24 * 10):
            writer.append(spending(employee, NOW - timedelta(hours=hours_ago), 1000 + n))
    await writer.flush()
    yield engine
    await engine.dispose()


async def test_64_requests_after_the_counters_vanish_read_each_counter_once(ledger, redis_client, key_prefix):
    source = LedgerRebuildSource(ledger)
    store = RedisBudgetStore(redis_client, prefix=key_prefix, rebuild_source=source)
    results = await asyncio.gather(*(
        store.reserve(f"r-{e}", limits_of(e), Amount(5, 0), NOW) for e in EMPLOYEES))
    assert all(r.granted for r in results)
    assert source.reads == len(EMPLOYEES) + 2  # each employee once, the department once, the org once
    for n, result in enumerate(results):
        mine, department, org = result.statuses
        assert mine.spent_micro == 3 * (1000 + n)
        assert department.spent_micro == org.spent_micro == sum(3 * (1000 + i) for i in range(64))


async def test_waiters_give_up_after_a_bounded_wait_when_the_read_hangs(ledger):
    source = LedgerRebuildSource(ledger, wait_s=0.5)
    async with ledger.connect() as blocker:
        await blocker.execute(text("BEGIN"))
        await blocker.execute(text("LOCK TABLE usage_spend_hourly IN ACCESS EXCLUSIVE MODE"))
        outcomes = await asyncio.gather(*(source(limits_of(e), NOW) for e in EMPLOYEES[:8]),
                                        return_exceptions=True)
        assert all(isinstance(o, RebuildTimeout) for o in outcomes)
        await blocker.execute(text("ROLLBACK"))
    history = await source(limits_of("e03"), NOW)
    assert sum(history[limits_of("e03")[0]].values()) == 3 * 1003
