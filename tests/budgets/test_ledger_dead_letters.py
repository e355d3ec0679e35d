"""Nothing one record contains can stop the ledger (real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, text

from gateway.ledger import db
from gateway.ledger.dead_letter import DeadLetter
from gateway.ledger.tables import UsageRecord
from gateway.ledger.writer import LedgerWriter
from gateway.observability.metrics import Metrics


def record(request_id: str, **fields) -> dict:
    now = datetime.now(UTC)
    return {
        "request_id": request_id, "started_at": now, "finished_at": now, "employee_pseudonym": "p",
        "department": "d", "roles": "employee", "key_id": "k", "use_case": "general",
        "requested_model": "m", "status": "ok", "http_status": 200, "cost_micro_eur": 10, **fields,
    }


async def test_a_row_the_database_refuses_is_set_aside_and_the_batch_goes_on(postgres_database):
    await db.upgrade(postgres_database)
    engine = db.make_engine(postgres_database)
    writer = LedgerWriter(engine, batch_size=50)
    try:
        writer.append(record("nul", requested_model="x\x00", error_message="a\x00\ud800b"))
        writer.append(record("bad", http_status="not a number"))
        for i in range(20):
            writer.append(record(f"good{i}"))
        await writer.flush()
        async with engine.connect() as connection:
            written = (await connection.execute(select(func.count()).select_from(UsageRecord))).scalar_one()
            model = (await connection.execute(
                select(UsageRecord.requested_model).where(UsageRecord.request_id == "nul"))).scalar_one()
            letters = (await connection.execute(select(DeadLetter.request_id, DeadLetter.reason))).all()
        assert written == 21 and model == "x"
        assert [letter.request_id for letter in letters] == ["bad"] and letters[0].reason
        assert writer.pending == 0
        metrics = Metrics()
        metrics.watch_dead_letters(lambda: writer.dead_letters.counts)
        assert b'sobria_ledger_dead_letters_total{table="usage_records"} 1.0' in metrics.render()
    finally:
        await engine.dispose()


def test_readyz_fails_while_ledger_writes_keep_failing_and_recovers_with_nothing_lost(tmp_path, postgres_database):
    import asyncio
    import time

    import asyncpg
    import httpx

    from tests.processes import catalogue_for, start_gateway, stop

    dsn = postgres_database.replace("postgresql+asyncpg", "postgresql")

    async def sql(statement: str):
        connection = await asyncpg.connect(dsn)
        try:
            return await connection.fetchval(statement)
        finally:
            await connection.close()

    def wait_for(url: str, status: int) -> int:
        deadline = time.monotonic() + 30
        while (answer := httpx.get(url, timeout=5).status_code) != status and time.monotonic() < deadline:
            time.sleep(0.1)
        return answer

    gateway = start_gateway(tmp_path, catalogue_for("http://127.0.0.1:9/v1"), {"SOBRIA_DATABASE_URL": postgres_database})
    try:
        key = gateway.create_key("rosa", "ops")
        asyncio.run(sql("ALTER TABLE usage_records RENAME TO usage_records_away"))  # the database answers, writes fail
        for _ in range(3):
            refused = httpx.post(f"{gateway.base_url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                                 json={"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]})
            assert refused.status_code == 404
        assert wait_for(f"{gateway.base_url}/readyz", 503) == 503
        assert httpx.get(f"{gateway.base_url}/readyz").json()["ledger"] == "writes failing"
        asyncio.run(sql("ALTER TABLE usage_records_away RENAME TO usage_records"))
        assert wait_for(f"{gateway.base_url}/readyz", 200) == 200
        assert asyncio.run(sql("SELECT count(*) FROM usage_records WHERE http_status = 404")) == 3
        assert asyncio.run(sql("SELECT count(*) FROM ledger_dead_letters")) == 0
    finally:
        stop(gateway.process)


async def test_the_refusal_trace_and_the_content_log_set_refused_rows_aside_and_go_on(postgres_database):
    from gateway.ledger.batched import BatchedInserter
    from gateway.ledger.trace_tables import AccessRefusal, ContentRecord

    await db.upgrade(postgres_database)
    engine = db.make_engine(postgres_database)
    now = datetime.now(UTC)
    trace = BatchedInserter(engine, AccessRefusal, "access-trace")
    content = BatchedInserter(engine, ContentRecord, "content-log")
    try:
        trace.add({"at": now, "status": 401, "method": "GET", "path": "/admin/x\x00" + "p" * 1000, "reason": "r"})
        trace.add({"at": now, "status": "not a number", "method": "GET", "path": "/bad"})
        for i in range(5):
            trace.add({"at": now, "status": 401, "method": "GET", "path": f"/good{i}"})
        turn = {"created_at": now, "employee_pseudonym": "p", "completion": "c"}
        content.add({"request_id": "twice", "prompt": "a\x00b", **turn})
        content.add({"request_id": "twice", "prompt": "again", **turn})  # the primary key refuses it
        content.add({"request_id": "after", "prompt": "p", **turn})
        await trace.flush()
        await content.flush()
        async with engine.connect() as connection:
            paths = (await connection.execute(select(AccessRefusal.path))).scalars().all()
            prompts = dict((await connection.execute(select(ContentRecord.request_id, ContentRecord.prompt))).all())
            letters = (await connection.execute(select(DeadLetter.source, DeadLetter.request_id, DeadLetter.row))).all()
        assert len(paths) == 6 and "/bad" not in paths
        assert ("/admin/x" + "p" * 248) in paths  # NUL removed, cut to the column's 256 characters
        assert prompts == {"twice": "ab", "after": "p"}
        assert sorted((letter.source, letter.request_id) for letter in letters) == [
            ("access_refusals", None), ("content_log", "twice")]
        assert all("again" not in (letter.row or "") for letter in letters)  # no prompt text in a dead letter
        assert (trace.pending, content.pending) == (0, 0)
        assert trace.dead_letters.counts == {"access_refusals": 1}
        assert content.dead_letters.counts == {"content_log": 1}
    finally:
        await engine.dispose()


async def test_a_trace_whose_writes_keep_failing_is_counted_for_readyz_and_loses_nothing(postgres_database):
    import asyncio

    from gateway.ledger.batched import BatchedInserter
    from gateway.ledger.trace_tables import AccessRefusal

    await db.upgrade(postgres_database)
    engine = db.make_engine(postgres_database)
    trace = BatchedInserter(engine, AccessRefusal, "access-trace", flush_interval_s=0.05)

    async def until(condition) -> None:
        for _ in range(400):
            if condition():
                return
            await asyncio.sleep(0.05)

    try:
        async with engine.begin() as connection:
            await connection.execute(text("ALTER TABLE access_refusals RENAME TO access_refusals_away"))
        await trace.start()
        for i in range(3):
            trace.add({"at": datetime.now(UTC), "status": 401, "method": "GET", "path": f"/p{i}"})
        await until(lambda: trace.consecutive_failures >= 3)
        assert trace.consecutive_failures >= 3 and trace.pending == 3  # what /readyz reads; nothing set aside
        async with engine.begin() as connection:
            await connection.execute(text("ALTER TABLE access_refusals_away RENAME TO access_refusals"))
        await until(lambda: trace.pending == 0 and trace.consecutive_failures == 0)
        async with engine.connect() as connection:
            written = (await connection.execute(select(func.count()).select_from(AccessRefusal))).scalar_one()
            letters = (await connection.execute(select(func.count()).select_from(DeadLetter))).scalar_one()
        assert (written, letters, trace.consecutive_failures) == (3, 0, 0)
    finally:
        await trace.stop()
        await engine.dispose()


async def test_a_nul_row_left_in_the_spool_by_an_earlier_process_is_written_cleaned_on_restart(
    postgres_database, tmp_path
):
    from gateway.ledger.spool import Spool

    await db.upgrade(postgres_database)
    left = Spool(tmp_path / "spool")
    left.open()
    left.append(record("spooled", requested_model="x\x00", error_message="e\x00"))  # as an older release spooled it
    left.close()
    engine = db.make_engine(postgres_database)
    writer = LedgerWriter(engine, spool=Spool(tmp_path / "spool"))
    try:
        await writer.start()
        writer.append(record("after"))
        await writer.stop()
        async with engine.connect() as connection:
            written = dict((await connection.execute(select(UsageRecord.request_id, UsageRecord.requested_model))).all())
        assert written == {"spooled": "x", "after": "m"} and writer.replayed == 1
    finally:
        await engine.dispose()
