"""On PostgreSQL raw ledger rows live in monthly partitions created ahead; retention
drops old months whole and keeps the roll-ups. SQLite, the embedded default, prunes
rows the same way."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import func, select, text

from gateway.ledger import db, partitions
from gateway.ledger.tables import DailyUsage, UsageRecord
from gateway.ledger.writer import LedgerWriter


def row(request_id: str, at: datetime) -> dict:
    return {
        "request_id": request_id, "started_at": at, "finished_at": at, "employee_pseudonym": "p1",
        "department": "finance", "roles": "employee", "key_id": "k", "use_case": "translation",
        "requested_model": "auto", "served_model": "small", "status": "ok", "http_status": 200, "stream": False,
        "demo": False, "input_tokens": 1, "output_tokens": 1, "latency_ms": 1.0, "cost_micro_eur": 7, "gwp_ug": 3,
        "gwp_g_min": 0.0, "gwp_g_max": 0.0, "gwp_market_ug": None, "energy_wh": 0.0, "energy_wh_min": 0.0,
        "energy_wh_max": 0.0, "water_ml": 0.0, "adpe_kgsbeq": 0.0, "pe_mj": 0.0,
    }


async def partition_of_rows(engine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT tableoid::regclass::text, count(*) FROM usage_records GROUP BY 1"))
        return dict(rows.all())


async def test_partitions_are_created_ahead_and_rows_land_in_their_month(postgres_database):
    await db.upgrade(postgres_database)
    engine = db.make_engine(postgres_database)
    await partitions.maintain(engine, None, today=date(2027, 1, 15))
    async with engine.connect() as conn:
        names = set((await conn.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'usage_records'"))).scalars())
        id_type = (await conn.execute(text(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'usage_records' AND column_name = 'id'"))).scalar()
    assert {"usage_records_2027_01", "usage_records_2027_02", "usage_records_2027_03",
            "usage_records_2027_04", "usage_records_default"} <= names
    assert id_type == "bigint"
    writer = LedgerWriter(engine, flush_interval_s=60)
    writer.append(row("a", datetime(2027, 1, 31, 23, 59, tzinfo=UTC)))
    writer.append(row("b", datetime(2027, 2, 1, 0, 0, tzinfo=UTC)))
    writer.append(row("c", datetime(2031, 6, 1, tzinfo=UTC)))  # a wild clock: kept, not refused
    await writer.flush()
    assert await partition_of_rows(engine) == {"usage_records_2027_01": 1, "usage_records_2027_02": 1,
                                               "usage_records_default": 1}
    await engine.dispose()


async def test_retention_drops_old_months_and_keeps_the_rollups(database_url):
    await db.upgrade(database_url)
    engine = db.make_engine(database_url)
    await partitions.maintain(engine, None, today=date(2026, 9, 1))
    writer = LedgerWriter(engine, flush_interval_s=60)
    for month in (9, 10, 11, 12):
        writer.append(row(f"r{month}", datetime(2026, month, 10, tzinfo=UTC)))
    await writer.flush()
    await partitions.maintain(engine, retention_months=2, today=date(2026, 12, 5))
    async with engine.connect() as conn:
        kept = sorted(at.month for at in (await conn.execute(select(UsageRecord.started_at))).scalars())
        summed = (await conn.execute(select(func.sum(DailyUsage.requests), func.sum(DailyUsage.cost_micro_eur)))).one()
    assert kept == [11, 12]
    assert tuple(summed) == (4, 28)
    if engine.dialect.name == "postgresql":
        assert set(await partition_of_rows(engine)) == {"usage_records_2026_11", "usage_records_2026_12"}
    await engine.dispose()
