"""Budget overrides stored in the database, and the migration that creates their table."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.budgets.config import BudgetRule
from gateway.budgets.overrides import BudgetOverrides
from gateway.ledger import db

from .conftest import T0


async def test_migrations_create_the_overrides_table_and_overrides_round_trip(sqlite_url):
    await db.upgrade(sqlite_url)
    engine = create_async_engine(sqlite_url)
    try:
        overrides = BudgetOverrides(engine)
        rule = BudgetRule(eur=Decimal("12.5"), gco2e_g=None, window="calendar_month")
        change = await overrides.put("department:legal", rule, "admin@example.org", T0)
        assert (change.before, change.after["eur"]) == (None, "12.5")
        assert await overrides.load() == {"department:legal": rule}
        removed = await overrides.remove("department:legal")
        assert removed.before["window"] == "calendar_month"
        assert await overrides.load() == {}
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        assert "budget_overrides" in tables
    finally:
        await engine.dispose()


async def test_changing_an_override_reports_the_rule_before_and_after(sqlite_url):
    await db.upgrade(sqlite_url)
    engine = create_async_engine(sqlite_url)
    try:
        overrides = BudgetOverrides(engine)
        await overrides.put("org", BudgetRule(eur=Decimal(1000)), "admin", T0)
        change = await overrides.put("org", BudgetRule(eur=Decimal(2000)), "admin", T0)
        assert (change.before["eur"], change.after["eur"]) == ("1000", "2000")
    finally:
        await engine.dispose()
