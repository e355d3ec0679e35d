"""Rebuild budget counters from the ledger, the source of truth for spending.

Sums `cost_micro_eur` and `gwp_ug` of `usage_records` per bucket of a budget's current
window, for the scope of that budget. One query serves every budget sharing a scope,
bucket size and window start (typically the EUR and gCO2e budgets of one scope).
Ledger times are taken as UTC, as the ledger writes them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, ColumnElement, Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.budgets.store import EUR, BudgetLimit
from gateway.budgets.windows import epoch_s, window_start
from gateway.ledger.tables import UsageRecord

_SCOPE_COLUMNS = {
    "employee": UsageRecord.employee_pseudonym,
    "department": UsageRecord.department,
    "use_case": UsageRecord.use_case,
}


def scope_filter(scope: str) -> ColumnElement[bool] | None:
    """The ledger rows a scope covers: "org" covers all, "<kind>:<name>" one name."""
    if scope == "org":
        return None
    kind, _, name = scope.partition(":")
    if kind not in _SCOPE_COLUMNS or not name:
        raise ValueError(f"unknown budget scope {scope!r}")
    return _SCOPE_COLUMNS[kind] == name


class LedgerRebuildSource:
    """A `RebuildSource` reading the ledger tables through an async engine or sessionmaker."""

    def __init__(self, sessions: AsyncEngine | async_sessionmaker[AsyncSession]) -> None:
        if isinstance(sessions, AsyncEngine):
            sessions = async_sessionmaker(sessions, expire_on_commit=False)
        self._sessions = sessions

    async def __call__(self, limits: list[BudgetLimit], now: datetime) -> dict[BudgetLimit, dict[int, int]]:
        now_s = epoch_s(now)
        groups: dict[tuple[str, int, int], list[BudgetLimit]] = {}
        for limit in limits:
            groups.setdefault((limit.scope, limit.bucket_seconds, window_start(limit, now_s)), []).append(limit)
        history: dict[BudgetLimit, dict[int, int]] = {}
        async with self._sessions() as session:
            for (scope, bucket_seconds, start), members in groups.items():
                rows = await self._spending(session, scope, bucket_seconds, start, now_s)
                for limit in members:
                    column = 1 if limit.unit == EUR else 2
                    history[limit] = {row[0]: row[column] for row in rows if row[column]}
        return history

    @staticmethod
    async def _spending(
        session: AsyncSession, scope: str, bucket_seconds: int, start_s: int, now_s: float
    ) -> list[tuple[int, int, int]]:
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
        return [(int(b), int(eur or 0), int(ug or 0)) for b, eur, ug in result.all()]


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _bucket_start(dialect: str, bucket_seconds: int) -> ColumnElement[int]:
    """Epoch seconds of the start of the bucket holding `started_at`, in SQL."""
    if dialect == "sqlite":
        sqlite_seconds = cast(func.strftime("%s", UsageRecord.started_at), Integer)
        return ((sqlite_seconds // bucket_seconds) * bucket_seconds).label("bucket")
    seconds = func.extract("epoch", UsageRecord.started_at)
    return (cast(func.floor(seconds / bucket_seconds), BigInteger) * bucket_seconds).label("bucket")
