"""Opt-in content log: texts older than the retention period are purged and unrecoverable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from gateway.request.content_log import ContentLog
from gateway.ledger import db
from gateway.ledger.trace_tables import ContentRecord


async def test_purged_text_is_gone_from_the_table_and_the_database_files(tmp_path):
    path = tmp_path / "ledger.db"
    url = f"sqlite+aiosqlite:///{path}"
    await db.upgrade(url)
    engine = db.make_engine(url)
    marker = f"confidential-{uuid.uuid4().hex}"
    log = ContentLog(engine, retention_days=1)
    log.record("req_old", "p", [{"role": "user", "content": marker}], f"answer {marker}")
    log.record("req_new", "p", [{"role": "user", "content": "kept"}], "kept")
    await log.flush()
    async with engine.begin() as connection:
        await connection.execute(
            ContentRecord.__table__.update()
            .where(ContentRecord.request_id == "req_old")
            .values(created_at=datetime.now(UTC) - timedelta(days=2))
        )

    deleted = await log.purge()

    async with engine.connect() as connection:
        left = (await connection.execute(select(ContentRecord.request_id))).scalars().all()
    await engine.dispose()
    files = b"".join(p.read_bytes() for p in tmp_path.glob("ledger.db*"))
    assert deleted == 1 and left == ["req_new"]
    assert marker.encode() not in files


async def test_content_logging_is_off_unless_enabled(tmp_path):
    from gateway.settings import Settings

    assert Settings(data_dir=tmp_path).content_log_enabled is False
    path = tmp_path / "ledger.db"
    url = f"sqlite+aiosqlite:///{path}"
    await db.upgrade(url)
    engine = db.make_engine(url)
    async with engine.connect() as connection:
        count = (await connection.execute(select(func.count()).select_from(ContentRecord))).scalar()
    await engine.dispose()
    assert count == 0
