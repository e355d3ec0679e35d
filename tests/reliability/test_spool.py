"""The ledger spool: records survive a dead process and a dead database, written once."""

from __future__ import annotations

import asyncio
import os
import sqlite3

from sqlalchemy import func, select

from gateway.ledger import db
from gateway.ledger.spool import Spool
from gateway.ledger.tables import UsageRecord
from gateway.ledger.writer import LedgerWriter
from tests.reliability.conftest import usage_record


async def _count(url: str) -> tuple[int, int]:
    engine = db.make_engine(url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(func.count(), func.count(UsageRecord.request_id.distinct())))).one()
    finally:
        await engine.dispose()
    return rows[0], rows[1]


def _abandon(spool: Spool) -> None:
    """What a killed process leaves: its segment files, unlocked, never closed cleanly."""
    for segment in spool._segments:
        os.close(segment.fd)
    spool._segments.clear()


def test_records_of_a_dead_process_are_recovered_with_their_types(tmp_path):
    dead = Spool(tmp_path)
    dead.open()
    written = [usage_record() for _ in range(5)]
    for record in written:
        dead.append(record)
    _abandon(dead)

    recovered = Spool(tmp_path).open()

    assert recovered == written


def test_a_torn_last_line_is_skipped_and_counted(tmp_path):
    dead = Spool(tmp_path)
    dead.open()
    dead.append(usage_record("req_whole"))
    os.write(dead._segments[-1].fd, b'{"request_id": "req_torn", "sta')
    _abandon(dead)

    heir = Spool(tmp_path)
    recovered = heir.open()

    assert [r["request_id"] for r in recovered] == ["req_whole"]
    assert heir.torn_lines == 1


def test_a_live_process_segments_are_never_adopted(tmp_path):
    alive = Spool(tmp_path)
    alive.open()
    alive.append(usage_record())

    assert Spool(tmp_path).open() == []


def test_acknowledged_records_leave_no_file_behind(tmp_path):
    spool = Spool(tmp_path, segment_bytes=2_000)
    spool.open()
    for _ in range(10):
        spool.append(usage_record())
    assert len(list(tmp_path.glob("*.jsonl"))) > 1

    spool.acknowledge(10)
    spool.close()

    assert list(tmp_path.glob("*.jsonl")) == []


def test_batch_policy_reaches_the_file_only_at_sync(tmp_path):
    spool = Spool(tmp_path, sync="batch")
    spool.open()
    spool.append(usage_record())
    segment = next(tmp_path.glob("*.jsonl"))
    assert segment.stat().st_size == 0

    spool.sync()

    assert segment.stat().st_size > 0


def test_batch_policy_reaches_the_file_every_interval_while_a_database_write_hangs(tmp_path):
    path = tmp_path / "ledger.db"
    url = f"sqlite+aiosqlite:///{path}"
    db.upgrade_sync(url)
    spool_dir = tmp_path / "spool"
    blocker = sqlite3.connect(path, isolation_level=None)

    async def scenario() -> tuple[bytes, int]:
        engine = db.make_engine(url)
        writer = LedgerWriter(engine, flush_interval_s=0.05, spool=Spool(spool_dir, sync="batch"))
        await writer.start()
        writer.append(usage_record("req_before_the_lock"))
        while writer.written == 0:
            await asyncio.sleep(0.01)
        blocker.execute("BEGIN IMMEDIATE")  # the writer's next insert waits for this lock
        writer.append(usage_record("req_whose_write_hangs"))
        await asyncio.sleep(0.2)
        writer.append(usage_record("req_during_the_hung_write"))
        await asyncio.sleep(0.2)
        on_disk = b"".join(segment.read_bytes() for segment in spool_dir.glob("*.jsonl"))
        blocker.execute("ROLLBACK")
        await writer.stop()
        await engine.dispose()
        return on_disk, writer.written

    on_disk, written = asyncio.run(scenario())
    blocker.close()

    assert b"req_during_the_hung_write" in on_disk
    assert written == 3


def test_records_written_while_the_database_is_down_reach_it_once_when_it_returns(tmp_path, own_postgres):
    url = own_postgres.url
    db.upgrade_sync(url)

    async def scenario() -> None:
        engine = db.make_engine(url)
        writer = LedgerWriter(engine, flush_interval_s=0.05, spool=Spool(tmp_path))
        await writer.start()
        for _ in range(20):
            writer.append(usage_record())
        await asyncio.sleep(0.3)
        own_postgres.stop()
        for _ in range(30):
            writer.append(usage_record())
        await asyncio.sleep(0.5)
        assert writer.pending == 30
        own_postgres.start()
        for _ in range(100):
            if writer.pending == 0:
                break
            await asyncio.sleep(0.1)
        await writer.stop()
        await engine.dispose()

    asyncio.run(scenario())

    assert asyncio.run(_count(url)) == (50, 50)
    assert list(tmp_path.glob("*.jsonl")) == []


def test_records_spooled_at_shutdown_without_a_database_are_written_by_the_next_start(tmp_path, own_postgres):
    url = own_postgres.url
    db.upgrade_sync(url)
    ids = [f"req_{i}" for i in range(40)]

    async def first_process() -> None:
        own_postgres.stop()
        engine = db.make_engine(url)
        writer = LedgerWriter(engine, flush_interval_s=0.05, spool=Spool(tmp_path))
        await writer.start()
        for request_id in ids:
            writer.append(usage_record(request_id))
        await writer.stop()
        await engine.dispose()

    async def next_process() -> int:
        engine = db.make_engine(url)
        writer = LedgerWriter(engine, flush_interval_s=0.05, spool=Spool(tmp_path))
        await writer.start()
        await writer.stop()
        await engine.dispose()
        return writer.replayed

    asyncio.run(first_process())
    own_postgres.start()
    replayed = asyncio.run(next_process())

    assert replayed == 40
    assert asyncio.run(_count(url)) == (40, 40)
