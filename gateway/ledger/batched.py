"""Rows queued in memory and inserted in batches by a background task.

For side tables written off the request path (refusal traces, opt-in content log):
`add` never waits on the database; the queue is bounded, and what overflows is counted
rather than stored. A failed write keeps its rows for the next attempt.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.dead_letter import DeadLetters, PartlyWritten
from gateway.ledger.sanitise import clean_row

log = logging.getLogger("sobria.batched")


class BatchedInserter:
    """A bounded queue of rows for one table and the task that writes them."""

    def __init__(
        self,
        engine: AsyncEngine,
        table: Any,
        name: str,
        flush_interval_s: float = 0.5,
        capacity: int = 10_000,
        on_tick: Callable[[], Awaitable[None]] | None = None,
        dead_letters: DeadLetters | None = None,
    ):
        self._engine = engine
        self._table = table
        self.name = name
        self._interval = flush_interval_s
        self._capacity = capacity
        self._on_tick = on_tick
        self._pending: deque[dict[str, Any]] = deque()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.consecutive_failures = 0
        self.dead_letters = dead_letters or DeadLetters(engine)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, row: dict[str, Any]) -> None:
        """Queue one row; beyond the capacity it is counted as dropped instead."""
        if len(self._pending) >= self._capacity:
            self.dropped += 1
            return
        self._pending.append(clean_row(row, self._table))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"sobria-{self.name}")

    async def stop(self) -> None:
        """Stop the task and write what is still queued (logged if the database refuses)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        try:
            await self.flush()
        except Exception:
            log.warning("%s: %d rows not written at shutdown", self.name, len(self._pending))

    async def flush(self) -> None:
        """Write every queued row now."""
        if not self._pending:
            return
        batch = list(self._pending)
        try:
            await self._write(batch)
        except Exception:  # noqa: BLE001 - a row or the database: isolate tells which
            try:
                if not await self.dead_letters.isolate(batch, self._write, self._table.__tablename__):
                    raise
            except PartlyWritten as partly:
                for _ in range(partly.done):
                    self._pending.popleft()
                raise
        for _ in batch:
            self._pending.popleft()

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(insert(self._table), rows)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
                self.consecutive_failures = 0
                if self._on_tick is not None:
                    await self._on_tick()
            except Exception:  # the database may be down: keep the rows and retry
                self.consecutive_failures += 1
                log.warning("%s: write failed; retrying", self.name, exc_info=True)
