"""The ledger on SQLite and PostgreSQL: migrations, batched idempotent writes, no loss."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.ledger import db
from gateway.ledger.tables import UsageRecord
from gateway.ledger.writer import LedgerWriter


def record(request_id: str, cost: int = 1234) -> dict:
    now = datetime.now(UTC)
    return {
        "request_id": request_id, "started_at": now, "finished_at": now, "employee_pseudonym": "p" * 32,
        "department": "finance", "roles": "employee", "key_id": "k1", "use_case": "translation",
        "requested_model": "auto", "served_model": "test-small", "rule_id": "r", "policy_version": "v",
        "classifier_confidence": None, "status": "ok", "http_status": 200, "stream": False, "demo": False,
        "input_tokens": 10, "output_tokens": 20, "max_tokens": 100, "latency_ms": 12.5, "ttft_ms": None,
        "cost_micro_eur": cost, "gwp_ug": 5678, "gwp_g_min": 0.001, "gwp_g_max": 0.01, "gwp_market_ug": None,
        "energy_wh": 0.02, "energy_wh_min": 0.01, "energy_wh_max": 0.05, "water_ml": 0.1, "adpe_kgsbeq": 1e-9,
        "pe_mj": 1e-4, "impact_method": "m", "factor_set_version": "f", "impact_source": "model-based",
        "impacts_detail": {"total": {}}, "error_message": None,
    }


async def count_rows(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(UsageRecord))).scalar_one()


async def test_migrations_create_every_table(database_url):
    await db.upgrade(database_url)
    engine = db.make_engine(database_url)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    assert {"usage_records", "api_keys", "audit_log", "alembic_version"} <= tables


async def test_migrations_are_idempotent(database_url):
    await db.upgrade(database_url)
    await db.upgrade(database_url)


async def test_writer_flushes_every_appended_record_on_stop(database_url):
    await db.upgrade(database_url)
    engine = db.make_engine(database_url)
    writer = LedgerWriter(engine, flush_interval_s=60, batch_size=50)
    await writer.start()
    for i in range(137):
        writer.append(record(f"req-{i}"))
    await writer.stop()
    assert await count_rows(engine) == 137
    await engine.dispose()


async def test_writer_ignores_a_record_it_already_wrote(database_url):
    """A record written again (a retried batch, a spool replay) is the same request id
    at the same start time: it is ignored."""
    await db.upgrade(database_url)
    engine = db.make_engine(database_url)
    writer = LedgerWriter(engine, flush_interval_s=60)
    written = record("req-dup")
    writer.append(written)
    await writer.flush()
    writer.append(dict(written))
    await writer.flush()
    assert await count_rows(engine) == 1
    await engine.dispose()


async def test_money_is_stored_exactly_as_integer_micro_euros(database_url):
    await db.upgrade(database_url)
    engine = db.make_engine(database_url)
    writer = LedgerWriter(engine)
    for i in range(1000):
        writer.append(record(f"req-{i}", cost=3))
    await writer.flush()
    async with engine.connect() as conn:
        total = (await conn.execute(select(func.sum(UsageRecord.cost_micro_eur)))).scalar_one()
    await engine.dispose()
    assert total == 3000


async def test_failed_flush_keeps_records_for_retry(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing-schema.db'}"
    engine = db.make_engine(url)
    writer = LedgerWriter(engine)
    writer.append(record("req-kept"))
    with pytest.raises(SQLAlchemyError):  # no such table
        await writer.flush()
    assert writer.pending == 1
    await db.upgrade(url)
    await writer.flush()
    assert writer.pending == 0 and await count_rows(engine) == 1
    await engine.dispose()
