"""Batched, idempotent ledger writes off the request path.

`append` puts a record in memory and, when a `Spool` is given, in the local durable
spool first; a background task writes batches every `flush_interval_s` (or sooner
when a batch fills). A failed batch stays pending and is retried with backoff, never
dropped, so records wait in the spool while the database is down and are written when
it returns. `stop` writes everything still pending; what the database still refuses
stays in the spool for the next start. Inserts ignore a request id that is already
present, so a retried or replayed batch never duplicates. The rows the database did
insert are added to the roll-ups (`gateway.ledger.rollups`) in the same transaction.
On PostgreSQL a batch is one `INSERT ... SELECT FROM unnest(...)` statement (one array
per column), not one parameter set per row: the writer's cost per row is then mostly
the database's own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.dead_letter import DeadLetters, PartlyWritten
from gateway.ledger.sanitise import clean_row
from gateway.ledger import rollups
from gateway.ledger.spool import Spool
from gateway.ledger.tables import UsageRecord

log = logging.getLogger("sobria.ledger")
USAGE: Table = UsageRecord.__table__  # type: ignore[assignment]
_COLUMNS = tuple(c.name for c in USAGE.columns if c.name != "id")
_PG_INSERT = rollups.unnest_insert_sql(USAGE, _COLUMNS, "ON CONFLICT DO NOTHING",
                                       tuple(c.name for c in rollups.RETURNED_COLUMNS))


class LedgerWriter:
    """Owns the queue of usage records waiting to be written."""

    def __init__(
        self,
        engine: AsyncEngine,
        flush_interval_s: float = 0.2,
        batch_size: int = 500,
        spool: Spool | None = None,
        dead_letters: DeadLetters | None = None,
    ):
        self._engine = engine
        self._spool = spool
        self._interval = flush_interval_s
        self._batch_size = batch_size
        self._pending: deque[dict[str, Any]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sync_timer: asyncio.TimerHandle | None = None
        self._stopping = False
        self.flush_errors = 0
        self.written = 0
        self.replayed = 0
        self.database_ok = True
        self.consecutive_failures = 0
        self.on_written: Callable[[list[str]], None] | None = None
        """Told the request ids of every batch in the database (budget stores re-apply the others)."""
        self.dead_letters = dead_letters or DeadLetters(engine)
        dialect = engine.dialect.name
        # Built once: a statement built per batch leaves reference cycles to the collector.
        self._sqlite_insert = (sqlite_insert(UsageRecord).on_conflict_do_nothing()
                               .returning(*rollups.RETURNED_COLUMNS))
        self._unnest = dialect == "postgresql"

    @property
    def pending(self) -> int:
        return len(self._pending)

    def append(self, record: dict[str, Any]) -> None:
        """Queue one usage record (a dict of `UsageRecord` columns), its text made storable."""
        record = clean_row(record, UsageRecord)
        if self._spool is not None:
            self._spool.append(record)
        self._pending.append(record)
        if len(self._pending) >= self._batch_size:
            self._wakeup.set()

    async def start(self) -> None:
        """Take over the records a previous process left in the spool, then start writing."""
        if self._spool is not None:
            recovered = [clean_row(record, UsageRecord) for record in self._spool.open()]
            self.replayed = len(recovered)
            self._pending.extendleft(reversed(recovered))
            if recovered:
                self._wakeup.set()
        self._task = asyncio.create_task(self._run(), name="sobria-ledger-writer")
        if self._spool is not None:
            self._sync_on_schedule()

    def _sync_on_schedule(self) -> None:
        """Sync the spool every interval on its own timer, not between database writes: a
        slow or hung write then stretches neither what a killed process can lose under
        `batch` sync (one interval) nor the fsync interval that bounds a machine crash."""
        assert self._spool is not None
        self._spool.sync()
        self._sync_timer = asyncio.get_running_loop().call_later(self._interval, self._sync_on_schedule)

    async def stop(self) -> None:
        """Write every pending record, then stop; what the database refuses stays spooled."""
        self._stopping = True
        self._wakeup.set()
        if self._sync_timer is not None:
            self._sync_timer.cancel()
        if self._task is not None:
            await self._task
        try:
            await self.flush()
        except Exception:
            if self._spool is None:
                raise
            log.error("ledger: database unavailable at shutdown; %d records kept in the spool", self.pending)
        finally:
            if self._spool is not None:
                self._spool.close()

    async def flush(self) -> None:
        """Write pending records now, in batches, until none is left or a write fails."""
        if self._spool is not None:
            self._spool.sync()
        while self._pending:
            count = min(len(self._pending), self._batch_size)
            batch = [self._pending[i] for i in range(count)]
            try:
                await self._write(batch)
            except Exception:
                try:
                    isolated = await self.dead_letters.isolate(batch, self._write, "usage_records")
                except PartlyWritten as partly:  # rows before the failing one are in: drop them, keep the rest
                    self._written_out(batch[: partly.done], partly.done)
                    self.database_ok = False
                    raise partly.error from None
                if not isolated:
                    self.database_ok = False
                    raise
            self.database_ok = True
            self._written_out(batch, count)

    def _written_out(self, batch: list[dict[str, Any]], count: int) -> None:
        """The first `count` pending records are in the database: tell the budget store, drop them."""
        if count == 0:
            return
        if self.on_written is not None:
            self.on_written([record["request_id"] for record in batch[:count]])
        for _ in range(count):
            self._pending.popleft()
        if self._spool is not None:
            self._spool.acknowledge(count)
        self.written += count

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        async with self._engine.begin() as connection:
            if self._unnest:
                arrays = rollups.column_arrays(USAGE, _COLUMNS, batch)
                result = await connection.exec_driver_sql(_PG_INSERT, arrays)
            else:
                result = await connection.execute(self._sqlite_insert, batch)
            await rollups.apply(connection, result.mappings().all())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = self._interval
        retry_at = 0.0
        while True:
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._interval)
            except TimeoutError:
                pass
            self._wakeup.clear()
            if loop.time() >= retry_at or self._stopping:
                try:
                    await self.flush()
                    backoff = self._interval
                    self.consecutive_failures = 0
                except Exception:  # the database may be down: keep the records and retry
                    self.flush_errors += 1
                    self.consecutive_failures += 1
                    log.warning("ledger flush failed; %d records kept for retry", self.pending, exc_info=True)
                    retry_at = loop.time() + backoff
                    backoff = min(backoff * 2, 5.0)
            if self._stopping:
                return
