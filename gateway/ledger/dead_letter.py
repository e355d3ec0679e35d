"""Rows the database refuses are set aside, with the reason, so that the batch goes on.

A batch write that fails while the database answers is retried row by row: the rows
that go in are written, each row still refused is stored in `ledger_dead_letters`
(where it came from, its request id, the database's reason, and the row as JSON with
any prompt or completion text left out) and counted for `/metrics`. Only when the
database does not answer at all is the batch kept for a later retry. Admins list the
dead letters at `GET /admin/ledger/dead-letters`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import DateTime, Integer, String, Text, insert, select, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from gateway.ledger.sanitise import clean_json, clean_text
from gateway.ledger.tables import Base

log = logging.getLogger("sobria.dead_letter")

#: Columns never copied into a dead letter (content log text stays where admins enabled it).
PRIVATE_COLUMNS = frozenset({"prompt", "completion"})


class DeadLetter(Base):
    """One row a table refused: its source table, request id, the reason, and the row."""

    __tablename__ = "ledger_dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    source: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(500))
    row: Mapped[str | None] = mapped_column(Text, nullable=True)


class PartlyWritten(RuntimeError):
    """The database stopped taking rows part-way through: the first `done` are written."""

    def __init__(self, done: int, error: BaseException):
        super().__init__(f"{done} rows written before: {error}")
        self.done = done
        self.error = error


#: PostgreSQL error classes caused by a row's values: 22 data exception, 23 integrity violation.
DATA_SQLSTATE_CLASSES = ("22", "23")


def refused_for_its_content(error: BaseException) -> bool:
    """The database (or the driver binding it) refused this row for what it holds, not
    because the database is unwell: bad data, a constraint, a value it cannot encode."""
    if isinstance(error, DataError | IntegrityError):
        return True
    if isinstance(error, StatementError) and not isinstance(error, DBAPIError):
        return True  # failed while binding the row's values, before the database saw it
    seen: BaseException | None = error
    for _ in range(4):  # the driver's own error, under SQLAlchemy's wrapper
        if seen is None:
            break
        if isinstance(seen, ValueError | TypeError | UnicodeError):
            return True
        sqlstate = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in DATA_SQLSTATE_CLASSES:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def _row_json(row: dict[str, Any]) -> str:
    kept = {k: v for k, v in row.items() if k not in PRIVATE_COLUMNS}
    return orjson.dumps(clean_json(kept), default=str).decode()


class DeadLetters:
    """Writes refused rows aside and counts them by source table."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine
        self.counts: Counter[str] = Counter()

    async def database_answers(self) -> bool:
        try:
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means "does not answer"
            return False
        return True

    async def isolate(
        self,
        rows: list[dict[str, Any]],
        write: Callable[[list[dict[str, Any]]], Awaitable[None]],
        source: str,
    ) -> bool:
        """Write `rows` one by one, setting aside each one refused for its content; False
        (nothing kept back) when the database does not answer, and the error raised when it
        refuses a row for another reason (a missing table, permissions, a full disk): then
        the caller keeps what is left for a later retry and `/readyz` reports the failures."""
        if not await self.database_answers():
            return False
        for done, row in enumerate(rows):
            try:
                await write([row])
            except Exception as error:
                if not refused_for_its_content(error):
                    raise PartlyWritten(done, error) from error
                await self.set_aside(row, source, error)
        return True

    async def set_aside(self, row: dict[str, Any], source: str, error: BaseException) -> None:
        reason = clean_text(f"{type(error).__name__}: {error}".splitlines()[0], 500)
        request_id = row.get("request_id")
        entry = {
            "at": datetime.now(UTC),
            "source": source[:32],
            "request_id": clean_text(str(request_id), 64) if request_id is not None else None,
            "reason": reason,
            "row": _row_json(row),
        }
        try:
            async with self._engine.begin() as connection:
                await connection.execute(insert(DeadLetter), [entry])
        except Exception:  # noqa: BLE001 - the row itself may be what cannot be stored
            entry["row"] = None  # the row itself is what the database cannot take: keep the reason
            async with self._engine.begin() as connection:
                await connection.execute(insert(DeadLetter), [entry])
        self.counts[source] += 1
        log.error("%s: row %s set aside as a dead letter: %s", source, entry["request_id"], reason)


async def recent(engine: AsyncEngine, limit: int) -> list[DeadLetter]:
    """The newest dead letters first."""
    async with engine.connect() as connection:
        result = await connection.execute(select(DeadLetter.__table__).order_by(DeadLetter.id.desc()).limit(limit))
        return list(result.all())  # type: ignore[arg-type]
