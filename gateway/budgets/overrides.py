"""Per-scope budget overrides in the database: read all, set one, remove one.

Each change returns the rule before and after it, as JSON-ready dicts, so that the
admin route can write the audit log entry in the same breath.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.budgets.config import MICRO, BudgetRule
from gateway.budgets.tables import BudgetOverride


@dataclass(frozen=True, slots=True)
class OverrideChange:
    scope: str
    before: dict | None
    after: dict | None


def _rule(row: BudgetOverride) -> BudgetRule:
    return BudgetRule(
        eur=None if row.limit_micro_eur is None else Decimal(row.limit_micro_eur) / MICRO,
        gco2e_g=None if row.limit_gco2e_ug is None else Decimal(row.limit_gco2e_ug) / MICRO,
        window=row.window,
        window_days=row.window_days,
        bucket_minutes=row.bucket_minutes,
    )


def rule_json(rule: BudgetRule | None) -> dict | None:
    return None if rule is None else rule.model_dump(mode="json")


class BudgetOverrides:
    """Repository of the `budget_overrides` table."""

    def __init__(self, sessions: AsyncEngine | async_sessionmaker[AsyncSession]) -> None:
        if isinstance(sessions, AsyncEngine):
            sessions = async_sessionmaker(sessions, expire_on_commit=False)
        self._sessions = sessions

    async def load(self) -> dict[str, BudgetRule]:
        async with self._sessions() as session:
            rows = (await session.execute(select(BudgetOverride))).scalars().all()
        return {row.scope: _rule(row) for row in rows}

    async def put(self, scope: str, rule: BudgetRule, actor: str, now: datetime) -> OverrideChange:
        """Set the budget of `scope` to `rule` (every field of it, unset currencies unlimited)."""
        async with self._sessions() as session, session.begin():
            row = await session.get(BudgetOverride, scope)
            before = rule_json(_rule(row)) if row is not None else None
            if row is None:
                row = BudgetOverride(scope=scope)
                session.add(row)
            row.limit_micro_eur = None if rule.eur is None else int(rule.eur * MICRO)
            row.limit_gco2e_ug = None if rule.gco2e_g is None else int(rule.gco2e_g * MICRO)
            row.window = rule.window
            row.window_days = rule.window_days
            row.bucket_minutes = rule.bucket_minutes
            row.updated_at = now
            row.updated_by = actor
        return OverrideChange(scope, before, rule_json(rule))

    async def remove(self, scope: str) -> OverrideChange:
        """Back to the configured default for `scope`."""
        async with self._sessions() as session, session.begin():
            row = await session.get(BudgetOverride, scope)
            before = rule_json(_rule(row)) if row is not None else None
            await session.execute(delete(BudgetOverride).where(BudgetOverride.scope == scope))
        return OverrideChange(scope, before, None)
