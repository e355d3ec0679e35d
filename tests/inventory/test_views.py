"""The committee's three views count people from the presence roll-up, once each, in one query per period."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from gateway.inventory.usage import UsageAggregator
from gateway.inventory.views import CommitteeViews
from tests.inventory.conftest import seed, usage_row

USE_CASES = ("analysis", "translation", "drafting", "summarisation", "code")
DEPARTMENTS = ("finance", "ops", "legal", "hr")
MODELS = ("mistral-small", "mistral-medium", "mistral-large", None)
MONTHS = ("2026-05", "2026-06", "2026-07")


def random_ledger(seed_value: int) -> list[dict]:
    """People of uneven activity: some in one cell, some everywhere, some in one month only."""
    rng = random.Random(seed_value)
    rows = []
    for person in range(60):
        department = rng.choice(DEPARTMENTS)
        cells = {(rng.choice(USE_CASES[: rng.randint(1, 5)]), rng.choice(MODELS)) for _ in range(rng.randint(1, 4))}
        for month in rng.sample(MONTHS, rng.randint(1, 3)):
            for use_case, model in cells:
                at = datetime(2026, int(month[5:]), rng.randint(1, 28), 10, tzinfo=UTC)
                rows.append(usage_row(f"e{person}", use_case, department, model, at))
    return rows


def people(rows: list[dict], months: tuple[str, ...], dimension: str, key: str | None) -> int:
    """Distinct employees behind a group, counted from the raw rows (what the views must equal)."""
    column = {"use_case": "use_case", "department": "department", "model": "served_model"}[dimension]
    return len({r["employee_pseudonym"] for r in rows if r["started_at"].strftime("%Y-%m") in months
                and (key is None or (r[column] or "(none)") == key)})


@pytest.mark.parametrize("seed_value", [1, 2, 3])
async def test_every_published_count_equals_the_distinct_people_of_the_raw_rows(engine, seed_value):
    rows = random_ledger(seed_value)
    await seed(engine, rows)
    views = CommitteeViews(engine, UsageAggregator(engine, k=5))
    for months in ((MONTHS[0],), MONTHS):
        built = await views.period(months)
        for dimension, view in built.items():
            assert view.rows or view.hidden
            for row in view.rows:
                assert row.users == people(rows, months, dimension, row.key) >= 5
            if view.total is not None:
                assert view.total_users == people(rows, months, dimension, None)
            if view.remainder is not None:
                hidden = {h.key for h in view.hidden}
                column = {"use_case": "use_case", "department": "department", "model": "served_model"}[dimension]
                expected = len({r["employee_pseudonym"] for r in rows if r["started_at"].strftime("%Y-%m") in months
                                and (r[column] or "(none)") in hidden})
                assert view.remainder_users == expected >= 5


async def test_a_year_counts_a_person_once_and_asks_the_database_once(engine):
    rows = [usage_row(f"e{i}", "analysis", "finance", "mistral-small", datetime(2026, m, 3, tzinfo=UTC))
            for i in range(5) for m in (1, 4, 9)]
    await seed(engine, rows)
    statements: list[str] = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", remember)
    try:
        year = await CommitteeViews(engine, UsageAggregator(engine, k=5)).period(
            tuple(f"2026-{m:02d}" for m in range(1, 13)))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", remember)
    assert year["use_case"].row("analysis").users == 5  # 15 person-months, 5 people
    assert year["use_case"].total_users == 5
    presence_counts = [s for s in statements if "usage_presence_monthly" in s and ("string_agg" in s or "group_concat" in s)]
    assert len(presence_counts) == 1
