"""Monthly partitions of `usage_records` on PostgreSQL, created ahead, and raw-row retention.

Each month of `started_at` (UTC) has its own partition `usage_records_YYYY_MM`; a
DEFAULT partition catches a row outside every month created (a skewed clock), so no
insert ever fails for want of a partition. The gateway creates the partitions of the
current month and the next `AHEAD_MONTHS` at every start.

Retention (`ledger_raw_retention_months`) keeps raw rows of the current month and the
N-1 before it: older partitions are dropped whole on PostgreSQL (instant, no bloat),
older rows deleted in batches on SQLite. The roll-ups are never pruned: committee
figures, reports and budgets keep years of history at a few rows per cell.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from sqlalchemy import delete, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.tables import UsageRecord

log = logging.getLogger("sobria.ledger")

AHEAD_MONTHS = 3
PARENT = "usage_records"


def month_start(day: date, shift: int = 0) -> date:
    """First day of the month `shift` months after the one holding `day`."""
    index = day.year * 12 + day.month - 1 + shift
    return date(index // 12, index % 12 + 1, 1)


def partition_name(first_day: date) -> str:
    return f"{PARENT}_{first_day.year:04d}_{first_day.month:02d}"


def is_partitioned(connection: Connection) -> bool:
    if connection.dialect.name != "postgresql":
        return False
    found = connection.execute(text(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "WHERE c.relname = :name AND pg_table_is_visible(c.oid)"), {"name": PARENT}).first()
    return found is not None


def ensure_partitions(connection: Connection, first: date, last: date) -> list[str]:
    """Create the monthly partitions covering [first, last] that do not exist yet."""
    if not is_partitioned(connection):
        return []
    created = []
    cursor = month_start(first)
    while cursor <= last:
        name, following = partition_name(cursor), month_start(cursor, 1)
        exists = connection.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar()
        if exists is None:
            connection.execute(text(
                f"CREATE TABLE {name} PARTITION OF {PARENT} "
                f"FOR VALUES FROM ('{cursor.isoformat()} 00:00:00+00') TO ('{following.isoformat()} 00:00:00+00')"))
            created.append(name)
        cursor = following
    return created


def ensure_default_partition(connection: Connection) -> None:
    if is_partitioned(connection):
        connection.execute(text(f"CREATE TABLE IF NOT EXISTS {PARENT}_default PARTITION OF {PARENT} DEFAULT"))


def drop_months_before(connection: Connection, cutoff: date) -> list[str]:
    """Drop the monthly partitions wholly before `cutoff` (the first day of a month)."""
    rows = connection.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :parent"), {"parent": PARENT}).scalars().all()
    dropped = []
    for name in sorted(rows):
        suffix = name.removeprefix(f"{PARENT}_")
        try:
            first = datetime.strptime(suffix, "%Y_%m").date()
        except ValueError:
            continue
        if month_start(first, 1) <= cutoff:
            connection.execute(text(f"DROP TABLE {name}"))
            dropped.append(name)
    return dropped


async def maintain(engine: AsyncEngine, retention_months: int | None, today: date | None = None) -> None:
    """At start-up: partitions from this month to `AHEAD_MONTHS` ahead, then retention."""
    today = today or datetime.now(UTC).date()
    async with engine.begin() as connection:
        created = await connection.run_sync(ensure_partitions, today, month_start(today, AHEAD_MONTHS))
    if created:
        log.info("ledger: created partitions %s", ", ".join(created))
    if retention_months:
        await prune(engine, retention_months, today)


async def prune(engine: AsyncEngine, retention_months: int, today: date, batch: int = 10_000) -> int:
    """Remove raw rows older than the retention; returns the partitions dropped or rows deleted."""
    cutoff = month_start(today, 1 - retention_months)
    async with engine.begin() as connection:
        if await connection.run_sync(is_partitioned):
            dropped = await connection.run_sync(drop_months_before, cutoff)
            if dropped:
                log.info("ledger retention: dropped %s", ", ".join(dropped))
            # A skewed clock may have put old rows in the DEFAULT partition.
            await connection.execute(delete(UsageRecord).where(
                UsageRecord.started_at < datetime(cutoff.year, cutoff.month, 1, tzinfo=UTC)))
            return len(dropped)
    removed = 0
    moment = datetime(cutoff.year, cutoff.month, 1, tzinfo=UTC)
    while True:
        async with engine.begin() as connection:
            ids = select(UsageRecord.id).where(UsageRecord.started_at < moment).limit(batch).scalar_subquery()
            result = await connection.execute(delete(UsageRecord).where(UsageRecord.id.in_(ids)))
        removed += result.rowcount or 0
        if not result.rowcount:
            return removed
