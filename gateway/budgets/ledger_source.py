"""Rebuild budget counters from the ledger, the source of truth for spending.

Reads the hourly spending roll-up of each scope (`usage_spend_hourly`, maintained by
the ledger writer in the same transaction as the rows), so a rebuild reads at most one
row per hour of the window whatever the number of requests: 720 rows for a 30-day
window, for an employee as for the whole organisation. A budget whose buckets are not
whole hours falls back to summing the raw rows of its window.

A rebuild counts whole hours: spending of the current hour stamped a little after
`now` (another replica's clock) is counted, never left out.

Single flight: one read per counter at a time across the process. A request needing a
counter that is already being read waits for that read (at most `wait_s`) instead of
issuing its own, and the counters asked for within one event-loop turn are read in one
query, so a Redis flush under load costs one short query per burst, not one per
request and counter. Ledger times are taken as UTC, as the ledger writes them.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import BigInteger, ColumnElement, Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.budgets.store import EUR, BudgetLimit
from gateway.budgets.windows import epoch_s, window_start
from gateway.ledger.rollups import HOUR_S
from gateway.ledger.tables import SpendBucket, UsageRecord

_SCOPE_COLUMNS = {
    "employee": UsageRecord.employee_pseudonym,
    "department": UsageRecord.department,
    "use_case": UsageRecord.use_case,
}

History = dict[int, tuple[int, int]]
"""Bucket start (epoch seconds) -> (micro-euros, micro-grams CO2e)."""


def scope_filter(scope: str) -> ColumnElement[bool] | None:
    """The ledger rows a scope covers: "org" covers all, "<kind>:<name>" one name."""
    if scope == "org":
        return None
    kind, _, name = scope.partition(":")
    if kind not in _SCOPE_COLUMNS or not name:
        raise ValueError(f"unknown budget scope {scope!r}")
    return _SCOPE_COLUMNS[kind] == name


class RebuildTimeout(RuntimeError):
    """Waiting for another request's rebuild of the same counter took longer than allowed."""


_Group = tuple[str, int, int]
"""(scope, bucket seconds, window start): budgets sharing it share one history."""


@dataclass(slots=True)
class _Batch:
    """Groups asked for within one event-loop turn, read together; `now_s` the latest asked."""

    now_s: float
    groups: list[_Group] = field(default_factory=list)
    result: asyncio.Future[dict[_Group, History]] = field(init=False)


class LedgerRebuildSource:
    """A `RebuildSource` reading the ledger's roll-ups through an async engine or sessionmaker."""

    def __init__(self, sessions: AsyncEngine | async_sessionmaker[AsyncSession], wait_s: float = 5.0) -> None:
        if isinstance(sessions, AsyncEngine):
            sessions = async_sessionmaker(sessions, expire_on_commit=False)
        self._sessions = sessions
        self._wait_s = wait_s
        self._inflight: dict[_Group, asyncio.Task[History]] = {}
        self._batch: _Batch | None = None
        self.reads = 0
        """Groups read from the database so far (what single flight keeps low)."""

    async def __call__(self, limits: list[BudgetLimit], now: datetime) -> dict[BudgetLimit, dict[int, int]]:
        now_s = epoch_s(now)
        groups: dict[_Group, list[BudgetLimit]] = {}
        for limit in limits:
            groups.setdefault((limit.scope, limit.bucket_seconds, window_start(limit, now_s)), []).append(limit)
        fresh = [group for group in groups if group not in self._inflight]
        if fresh:
            batch = self._batch
            if batch is None or abs(batch.now_s - now_s) > 1.0:
                batch = self._batch = _Batch(now_s)
                batch.result = asyncio.ensure_future(self._read_batch(batch))
            batch.groups.extend(fresh)
            batch.now_s = max(batch.now_s, now_s)
            for group in fresh:
                task = asyncio.ensure_future(_pick(batch.result, group))
                self._inflight[group] = task
                task.add_done_callback(functools.partial(self._settled, group))
        tasks = {group: self._inflight[group] for group in groups}
        try:
            async with asyncio.timeout(self._wait_s):
                done = {group: await asyncio.shield(task) for group, task in tasks.items()}
        except TimeoutError:
            raise RebuildTimeout(f"budget counters not rebuilt within {self._wait_s:g} s") from None
        history: dict[BudgetLimit, dict[int, int]] = {}
        for group, members in groups.items():
            for limit in members:
                column = 0 if limit.unit == EUR else 1
                history[limit] = {bucket: pair[column] for bucket, pair in done[group].items() if pair[column]}
        return history

    def _settled(self, group: _Group, task: asyncio.Task[History]) -> None:
        self._inflight.pop(group, None)
        if not task.cancelled():
            task.exception()  # retrieved here: waiters that timed out no longer listen

    async def _read_batch(self, batch: _Batch) -> dict[_Group, History]:
        """Read every group asked for while this batch was gathering, in one query."""
        await asyncio.sleep(0)  # let the other requests of the same burst add their groups
        if self._batch is batch:
            self._batch = None
        return await self._read(batch.groups, batch.now_s)

    async def _read(self, groups: Sequence[_Group], now_s: float) -> dict[_Group, History]:
        self.reads += len(groups)
        hourly = [g for g in groups if g[1] % HOUR_S == 0]
        out: dict[_Group, History] = {}
        async with self._sessions() as session:
            if hourly:
                out.update(await _from_rollup(session, hourly, now_s))
            for group in groups:
                if group not in out:
                    out[group] = await _from_rows(session, group, now_s)
        return out


async def _pick(read: asyncio.Future[dict[_Group, History]], group: _Group) -> History:
    return (await asyncio.shield(read))[group]


async def _from_rollup(session: AsyncSession, groups: Sequence[_Group], now_s: float) -> dict[_Group, History]:
    """Every group's history from the hourly roll-up, in one query."""
    query = select(SpendBucket.scope, SpendBucket.hour_s, SpendBucket.cost_micro_eur, SpendBucket.gwp_ug).where(
        SpendBucket.scope.in_({g[0] for g in groups}),
        SpendBucket.hour_s >= min(g[2] for g in groups),
        SpendBucket.hour_s <= int(now_s),
    )
    out: dict[_Group, History] = {g: {} for g in groups}
    by_scope: dict[str, list[_Group]] = {}
    for group in groups:
        by_scope.setdefault(group[0], []).append(group)
    for scope, hour, eur, ug in (await session.execute(query)).all():
        for group in by_scope[scope]:
            _, bucket_seconds, start = group
            if hour < start:
                continue
            bucket = hour // bucket_seconds * bucket_seconds
            spent_eur, spent_ug = out[group].get(bucket, (0, 0))
            out[group][bucket] = (spent_eur + int(eur), spent_ug + int(ug))
    return out


async def _from_rows(session: AsyncSession, group: _Group, now_s: float) -> History:
    """A group whose buckets are not whole hours: sum the raw rows of its window."""
    scope, bucket_seconds, start_s = group
    bucket = _bucket_start(session.get_bind().dialect.name, bucket_seconds)
    query = (
        select(bucket, func.sum(UsageRecord.cost_micro_eur), func.sum(UsageRecord.gwp_ug))
        .where(UsageRecord.started_at >= _utc(start_s), UsageRecord.started_at <= _utc(now_s))
        .group_by(bucket)
    )
    condition = scope_filter(scope)
    if condition is not None:
        query = query.where(condition)
    result = await session.execute(query)
    return {int(b): (int(eur or 0), int(ug or 0)) for b, eur, ug in result.all()}


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _bucket_start(dialect: str, bucket_seconds: int) -> ColumnElement[int]:
    """Epoch seconds of the start of the bucket holding `started_at`, in SQL."""
    if dialect == "sqlite":
        sqlite_seconds = cast(func.strftime("%s", UsageRecord.started_at), Integer)
        return ((sqlite_seconds // bucket_seconds) * bucket_seconds).label("bucket")
    seconds = func.extract("epoch", UsageRecord.started_at)
    return (cast(func.floor(seconds / bucket_seconds), BigInteger) * bucket_seconds).label("bucket")
