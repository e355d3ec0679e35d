"""The ledger's roll-ups are exact: equal to the raw rows after concurrent writers,
duplicates, a spool replay and a process killed mid-write; the rebuild command agrees."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, literal, select, text

from gateway.ledger import db, rollups
from gateway.ledger import presence as presence_rollup
from gateway.ledger.spool import Spool
from gateway.ledger.tables import (
    NO_MODEL,
    DailyUsage,
    EmployeeDailyUsage,
    MonthlyPresence,
    SpendBucket,
    UsageRecord,
)
from gateway.ledger.writer import LedgerWriter

DAY0 = datetime(2026, 10, 30, 22, 0, tzinfo=UTC)  # spans a month boundary


def make_record(rng: random.Random, index: int) -> dict:
    started = DAY0 + timedelta(minutes=rng.randrange(0, 4 * 24 * 60))
    market = None if rng.random() < 0.3 else rng.randrange(0, 5_000)
    return {
        "request_id": f"req-{index}-{uuid.uuid4().hex[:8]}", "started_at": started, "finished_at": started,
        "employee_pseudonym": f"p{rng.randrange(12):02d}", "department": rng.choice(["finance", "legal", "it"]),
        "roles": "employee", "key_id": "k1", "use_case": rng.choice(["translation", "summary", "code"]),
        "requested_model": "auto", "served_model": rng.choice(["small", "large", None]), "rule_id": "r",
        "policy_version": "v", "classifier_confidence": None,
        "status": rng.choice(["ok", "ok", "ok", "upstream_error"]), "http_status": 200, "stream": False,
        "demo": False, "input_tokens": rng.randrange(0, 4000), "output_tokens": rng.randrange(0, 800),
        "max_tokens": None, "latency_ms": rng.random() * 900, "ttft_ms": None,
        "cost_micro_eur": rng.randrange(0, 90_000), "gwp_ug": rng.randrange(0, 9_000), "gwp_g_min": 0.001,
        "gwp_g_max": 0.02, "gwp_market_ug": market, "energy_wh": rng.random(), "energy_wh_min": 0.0,
        "energy_wh_max": 2.0, "water_ml": rng.random() * 3, "adpe_kgsbeq": 1e-9, "pe_mj": 1e-4,
        "impact_method": rng.choice(["ecologits-hosted", None]), "factor_set_version": "2026.1",
        "impact_source": "model-based", "impacts_detail": None, "error_message": None,
    }


async def snapshot(engine) -> dict[str, list]:
    """Every roll-up table, rows sorted, floats rounded (their sums differ only in order)."""
    out = {}
    async with engine.connect() as conn:
        for table in rollups.SUMMARY_TABLES:
            rows = (await conn.execute(select(table))).all()
            out[table.name] = sorted(
                tuple(round(v, 6) if isinstance(v, float) else str(v) for v in row) for row in rows)
    return out


async def assert_rollups_match_raw_rows(engine) -> None:
    """Compare each roll-up with the same figure summed straight from the raw rows."""
    model = func.coalesce(UsageRecord.served_model, NO_MODEL)
    async with engine.connect() as conn:
        raw = {(r[0], r[1], r[2]): tuple(r[3:]) for r in (await conn.execute(
            select(UsageRecord.use_case, UsageRecord.department, model, func.count(),
                   func.sum(UsageRecord.cost_micro_eur), func.sum(UsageRecord.gwp_ug),
                   func.coalesce(func.sum(UsageRecord.gwp_market_ug), 0),
                   func.count() - func.count(UsageRecord.gwp_market_ug), func.sum(UsageRecord.input_tokens))
            .group_by(UsageRecord.use_case, UsageRecord.department, model))).all()}
        summed = {(r[0], r[1], r[2]): tuple(r[3:]) for r in (await conn.execute(
            select(DailyUsage.use_case, DailyUsage.department, DailyUsage.served_model, func.sum(DailyUsage.requests),
                   func.sum(DailyUsage.cost_micro_eur), func.sum(DailyUsage.gwp_ug),
                   func.sum(DailyUsage.gwp_market_ug), func.sum(DailyUsage.market_missing_requests),
                   func.sum(DailyUsage.input_tokens))
            .group_by(DailyUsage.use_case, DailyUsage.department, DailyUsage.served_model))).all()}
        assert summed == raw

        raw_employee = dict((await conn.execute(select(
            UsageRecord.employee_pseudonym, func.sum(UsageRecord.cost_micro_eur)).group_by(
            UsageRecord.employee_pseudonym))).all())
        spend = dict((await conn.execute(select(SpendBucket.scope, func.sum(SpendBucket.cost_micro_eur)).where(
            SpendBucket.scope.like("employee:%")).group_by(SpendBucket.scope))).all())
        assert spend == {f"employee:{k}": v for k, v in raw_employee.items()}
        mine = dict((await conn.execute(select(
            EmployeeDailyUsage.employee_pseudonym, func.sum(EmployeeDailyUsage.cost_micro_eur)).group_by(
            EmployeeDailyUsage.employee_pseudonym))).all())
        assert mine == raw_employee
        org = (await conn.execute(select(SpendBucket.requests, SpendBucket.gwp_ug).where(
            SpendBucket.scope == "org"))).all()
        total = (await conn.execute(select(func.count(), func.sum(UsageRecord.gwp_ug)))).one()
        assert (sum(r[0] for r in org), sum(r[1] for r in org)) == tuple(total)

        month = rollups.sql_month(conn.dialect.name)
        raw_users = (await conn.execute(select(func.count()).select_from(select(
            month, UsageRecord.use_case, UsageRecord.department, model, UsageRecord.employee_pseudonym)
            .distinct().subquery()))).scalar()
        presence = (await conn.execute(select(func.count()).select_from(MonthlyPresence))).scalar()
        assert presence == raw_users
        for grouping, kept in (*presence_rollup.COARSER, (presence_rollup.CELL, presence_rollup.DIMENSIONS)):
            raw_columns = {"use_case": UsageRecord.use_case, "department": UsageRecord.department, "model": model}
            keys = [month, *(raw_columns[d] if d in kept else literal("") for d in presence_rollup.DIMENSIONS)]
            raw_counts = {tuple(r[:-1]): r[-1] for r in (await conn.execute(
                select(*keys, func.count(func.distinct(UsageRecord.employee_pseudonym))).group_by(*keys))).all()}
            counts = presence_rollup.COUNTS
            kept_counts = {tuple(r[:-1]): r[-1] for r in (await conn.execute(
                select(counts.c.month, counts.c.use_case, counts.c.department, counts.c.served_model, counts.c.users)
                .where(counts.c.grouping == grouping))).all()}
            assert kept_counts == raw_counts, grouping


async def test_concurrent_writers_and_duplicates_keep_the_rollups_exact(database_url):
    await db.upgrade(database_url)
    rng = random.Random(15)
    records = [make_record(rng, i) for i in range(600)]
    engines = [db.make_engine(database_url) for _ in range(3)]
    writers = [LedgerWriter(e, flush_interval_s=0.01, batch_size=37) for e in engines]
    for writer in writers:
        await writer.start()
    for i, record in enumerate(records):
        writers[i % 3].append(record)
        if i % 5 == 0:  # the same record again, through another writer: a retried batch
            writers[(i + 1) % 3].append(dict(record))
        if i % 50 == 0:
            await asyncio.sleep(0)
    await asyncio.gather(*(w.stop() for w in writers))
    async with engines[0].connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(UsageRecord))).scalar() == 600
    await assert_rollups_match_raw_rows(engines[0])
    for engine in engines:
        await engine.dispose()


CRASHING_WRITER = textwrap.dedent("""
    import asyncio, os, pickle, signal, sys
    from gateway.ledger import db
    from gateway.ledger.spool import Spool
    from gateway.ledger.writer import LedgerWriter

    async def main():
        records = pickle.loads(open(sys.argv[3], "rb").read())
        engine = db.make_engine(sys.argv[1])
        # A batch larger than the records and an hour-long interval: its own task never writes.
        writer = LedgerWriter(engine, flush_interval_s=3600, batch_size=10_000, spool=Spool(__import__("pathlib").Path(sys.argv[2])))
        await writer.start()
        for record in records:
            writer.append(record)
        writer._spool.sync()
        await writer._write(records[:150])  # in the database, never acknowledged in the spool
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
""")


async def test_a_writer_killed_mid_write_and_replayed_from_its_spool_counts_each_row_once(database_url, tmp_path):
    await db.upgrade(database_url)
    rng = random.Random(7)
    records = [make_record(rng, i) for i in range(250)]
    import pickle

    (tmp_path / "records.pickle").write_bytes(pickle.dumps(records))
    spool_dir = tmp_path / "spool"
    killed = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", CRASHING_WRITER, database_url, str(spool_dir),
                         str(tmp_path / "records.pickle")], cwd=Path(__file__).parents[1], timeout=120, check=False)
    assert killed.returncode == -9
    engine = db.make_engine(database_url)
    writer = LedgerWriter(engine, flush_interval_s=0.05, spool=Spool(spool_dir))
    await writer.start()
    assert writer.replayed == 250
    await writer.stop()
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(UsageRecord))).scalar() == 250
    await assert_rollups_match_raw_rows(engine)
    await engine.dispose()


async def test_the_rebuild_recomputes_the_rollups_the_writer_maintained(database_url):
    await db.upgrade(database_url)
    engine = db.make_engine(database_url)
    writer = LedgerWriter(engine, flush_interval_s=0.05, batch_size=64)
    await writer.start()
    rng = random.Random(3)
    for i in range(300):
        writer.append(make_record(rng, i))
    await writer.stop()
    maintained = await snapshot(engine)
    async with engine.begin() as conn:
        for table in rollups.SUMMARY_TABLES:  # damage: one table emptied, one figure off
            if table.name == "usage_presence_monthly":
                await conn.execute(table.delete())
        await conn.execute(text("UPDATE usage_daily SET cost_micro_eur = cost_micro_eur + 1"))
    seen: list[int] = []
    days = await rollups.rebuild(engine, DAY0.date(), (DAY0 + timedelta(days=4)).date(),
                                 lambda day, done, total: seen.append(done))
    assert days == 5 and seen == [1, 2, 3, 4, 5]
    assert await snapshot(engine) == maintained
    await assert_rollups_match_raw_rows(engine)
    await engine.dispose()


async def test_on_postgresql_the_rebuild_reads_the_hourly_rollup_from_its_key_alone(postgres_database):
    """The primary key's index carries cost and CO2e (migration 0020): an index-only scan."""
    await db.upgrade(postgres_database)
    engine = db.make_engine(postgres_database)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(
                "INSERT INTO usage_spend_hourly (scope, hour_s, requests, cost_micro_eur, gwp_ug) "
                "SELECT 'employee:e' || (n % 500), 3600 * (n / 500), 1, n, 2 * n FROM generate_series(1, 50000) n"
            )
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql("VACUUM ANALYZE usage_spend_hourly")
            # Index scans only, so that the plan says whether the key alone can answer.
            await connection.exec_driver_sql("SET enable_seqscan = off")
            await connection.exec_driver_sql("SET enable_bitmapscan = off")
            key_columns, all_columns = (await connection.exec_driver_sql(
                "SELECT indnkeyatts, indnatts FROM pg_index WHERE indrelid = 'usage_spend_hourly'::regclass "
                "AND indisprimary"
            )).one()
            plan = "\n".join(row[0] for row in await connection.exec_driver_sql(
                "EXPLAIN SELECT scope, hour_s, cost_micro_eur, gwp_ug FROM usage_spend_hourly "
                "WHERE scope IN ('employee:e7', 'employee:e8') AND hour_s >= 0 AND hour_s <= 360000"
            ))
    finally:
        await engine.dispose()
    assert (key_columns, all_columns) == (2, 4)
    assert "Index Only Scan" in plan
