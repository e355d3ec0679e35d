"""Opt-in content logging: prompt and completion text kept for a retention period, then purged.

Off by default (no text is ever stored unless an admin sets
`SOBRIA_CONTENT_LOG_ENABLED=true`, with `SOBRIA_CONTENT_LOG_RETENTION_DAYS`). Texts are
queued off the request path and written in batches; a purge job deletes what is older
than the retention period and makes the deleted text unrecoverable from the database
files (SQLite: secure delete and a WAL checkpoint; PostgreSQL: VACUUM of the table).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.batched import BatchedInserter
from gateway.ledger.trace_tables import ContentRecord

log = logging.getLogger("sobria.content_log")


def completion_text(body: dict[str, Any]) -> str:
    """The assistant text of a non-streamed chat completion body."""
    return "".join((c.get("message") or {}).get("content") or "" for c in body.get("choices") or ())


class ContentLog:
    """Queue of texts to store, their writer, and the retention purge."""

    def __init__(
        self,
        engine: AsyncEngine,
        retention_days: float,
        purge_interval_s: float = 3600,
        flush_interval_s: float = 0.5,
    ):
        self._engine = engine
        self.retention = timedelta(days=retention_days)
        self._purge_interval = purge_interval_s
        self._next_purge = 0.0
        self._rows = BatchedInserter(
            engine, ContentRecord, "content-log", flush_interval_s, 100_000, on_tick=self._purge_when_due
        )
        self.purged = 0

    @property
    def rows(self) -> BatchedInserter:
        """The queue and its writer (failures and dead letters are read from it)."""
        return self._rows

    def record(self, request_id: str, pseudonym: str, messages: list[dict[str, Any]], completion: str) -> None:
        """Queue the text of one answered request."""
        self._rows.add(
            {
                "request_id": request_id,
                "created_at": datetime.now(UTC),
                "employee_pseudonym": pseudonym,
                "prompt": orjson.dumps(messages).decode(),
                "completion": completion,
            }
        )

    async def start(self) -> None:
        await self.purge()
        self._next_purge = asyncio.get_running_loop().time() + self._purge_interval
        await self._rows.start()

    async def stop(self) -> None:
        await self._rows.stop()

    async def flush(self) -> None:
        await self._rows.flush()

    async def _purge_when_due(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() >= self._next_purge:
            self._next_purge = loop.time() + self._purge_interval
            await self.purge()

    async def purge(self, now: datetime | None = None) -> int:
        """Delete every text older than the retention period; returns how many were deleted."""
        cutoff = (now or datetime.now(UTC)) - self.retention
        sqlite = self._engine.dialect.name == "sqlite"
        async with self._engine.begin() as connection:
            if sqlite:
                await connection.execute(text("PRAGMA secure_delete=ON"))
            result = await connection.execute(delete(ContentRecord).where(ContentRecord.created_at < cutoff))
        deleted = result.rowcount or 0
        if deleted:
            await self._scrub(sqlite)
            log.info("content log: %d texts older than %s purged", deleted, self.retention)
        self.purged += deleted
        return deleted

    async def _scrub(self, sqlite: bool) -> None:
        """Leave no copy of deleted text in the database files."""
        if sqlite:
            async with self._engine.connect() as connection:
                await connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            return
        async with self._engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM content_log"))
