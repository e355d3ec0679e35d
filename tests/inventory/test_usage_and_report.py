"""Committee usage is k-anonymous and cannot be differenced; the report's numbers are the ledger's sums."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from gateway.providers.catalogue import Catalogue
from gateway.settings import Settings
from gateway.inventory.report import build_report, render_csv, render_markdown
from gateway.inventory.usage import Figures, UsageAggregator, roll_up
from gateway.ledger.tables import UsageRecord
from tests.inventory.conftest import seed, usage_row

OCT, SEP = datetime(2026, 10, 14, 9, 0, tzinfo=UTC), datetime(2026, 9, 10, 9, 0, tzinfo=UTC)


def ledger() -> list[dict]:
    rows = []
    rows += [usage_row(f"fin{i}", "translation", "finance", "mistral-small", OCT) for i in range(6)]
    rows += [usage_row(f"fin{i}", "translation", "finance", "mistral-small", OCT) for i in range(3)]
    rows += [usage_row(f"leg{i}", "translation", "legal", "mistral-small", OCT, cost_micro_eur=50_000) for i in range(2)]
    rows += [usage_row(f"drf{i}", "drafting", "finance", "mistral-large", OCT, output_tokens=400) for i in range(5)]
    rows += [usage_row(f"ops{i}", "summarisation", "ops", "mistral-medium", OCT) for i in range(7)]
    rows += [usage_row(f"fin{i}", "translation", "finance", "mistral-small", SEP) for i in range(5)]
    return rows


@pytest.fixture
async def october(engine):
    await seed(engine, ledger())
    return await UsageAggregator(engine, k=5).month("2026-10")


def cell(usage, use_case, department):
    return next(c for c in usage.cells if (c.use_case, c.department) == (use_case, department))


async def test_a_cell_covering_fewer_than_k_employees_is_suppressed(october):
    legal = cell(october, "translation", "legal")
    assert legal.suppressed and legal.suppression == "primary"
    assert all(c.distinct_users >= 5 for c in october.published)


async def test_secondary_suppression_hides_the_next_smallest_cell(october):
    drafting = cell(october, "drafting", "finance")
    assert drafting.suppressed and drafting.suppression == "secondary"
    assert october.remainder_users >= october.k


async def test_differencing_the_total_with_published_cells_does_not_reveal_a_suppressed_cell(october):
    published_sum = sum((c.figures for c in october.published), Figures())
    translation = roll_up(october.cells, ["use_case"])[("translation",)]
    difference = october.total.cost_micro_eur - published_sum.cost_micro_eur
    legal = cell(october, "translation", "legal").figures
    assert difference == october.remainder.cost_micro_eur != legal.cost_micro_eur
    assert translation == cell(october, "translation", "finance").figures


async def test_published_cells_and_remainder_add_up_to_the_ledger_sums(october, engine):
    async with engine.connect() as conn:
        cost, gwp, requests = (await conn.execute(select(
            func.sum(UsageRecord.cost_micro_eur), func.sum(UsageRecord.gwp_ug), func.count()).where(
            UsageRecord.started_at >= datetime(2026, 10, 1, tzinfo=UTC),
            UsageRecord.started_at < datetime(2026, 11, 1, tzinfo=UTC)))).one()
    published = sum((c.figures for c in october.published), Figures()) + october.remainder
    assert (published.cost_micro_eur, published.gwp_ug, published.requests) == (cost, gwp, requests)
    assert october.total == published


async def test_a_month_with_fewer_than_k_employees_publishes_no_total(engine):
    await seed(engine, [usage_row(f"e{i}", "translation", "finance", "mistral-small", OCT) for i in range(3)])
    usage = await UsageAggregator(engine, k=5).month("2026-10")
    assert not usage.published and not usage.totals_publishable


def test_k_can_be_raised_but_not_below_five(monkeypatch):
    monkeypatch.setenv("SOBRIA_K_ANONYMITY", "8")
    assert Settings().k_anonymity == 8
    monkeypatch.setenv("SOBRIA_K_ANONYMITY", "3")
    with pytest.raises(ValidationError):
        Settings()


async def test_report_totals_and_rows_equal_the_ledger_sums(october, engine, register):
    report = await build_report(engine, register, UsageAggregator(engine, 5), Catalogue.load(None), "2026-10")
    expected = sum(r["cost_micro_eur"] for r in ledger() if r["started_at"] == OCT)
    assert report.usage.total.cost_micro_eur == expected
    rows = {line.split(",")[1]: line.split(",") for line in render_csv(report).splitlines()[1:]}
    assert float(rows["(total)"][5]) == pytest.approx(expected / 1e6)
    assert float(rows["translation"][5]) + float(rows["summarisation"][5]) + float(rows["(suppressed)"][5]) == \
        pytest.approx(expected / 1e6)
    assert report.growing[0].use_case == "summarisation"
    markdown = render_markdown(report, "fr")
    assert "Rapport RSE Sobria, 2026-10" in markdown and "p-leg0" not in markdown


def spread_ledger(seed_value: int) -> list[dict]:
    """120 employees in 4 departments over 4 use cases and 3 models: many cells, some of
    them tiny (suppressed), and employees who used both hidden and published cells."""
    import random

    rng = random.Random(seed_value)
    rows = []
    for n in range(120):
        department = f"dept{n % 4}"
        for _ in range(rng.randint(1, 6)):
            use_case = rng.choice(["translation", "drafting", "code", "summarisation"])
            model = rng.choices(["small", "medium", "large"], weights=[8, 3, 1])[0]
            rows.append(usage_row(f"e{n}", use_case, department, model, OCT))
    return rows


@pytest.mark.parametrize("dims", [["use_case"], ["department"], ["model"], ["use_case", "department"],
                                  ["model", "use_case"], ["department", "model"], ["model", "department", "use_case"],
                                  []], ids=lambda d: "+".join(d) or "all")
async def test_distinct_users_of_every_grouping_are_those_of_its_published_cells(engine, dims):
    rows = spread_ledger(4)
    await seed(engine, rows)
    usage = await UsageAggregator(engine, k=5).month("2026-10")
    hidden = {c.key for c in usage.cells if c.suppressed}
    assert hidden and usage.published, "the ledger must exercise suppression"
    position = {"use_case": 0, "department": 1, "model": 2}
    expected: dict[tuple, set[str]] = {}
    for row in rows:
        key = (row["use_case"], row["department"], row["served_model"])
        if key not in hidden:
            expected.setdefault(tuple(key[position[d]] for d in dims), set()).add(row["employee_pseudonym"])
    aggregator = UsageAggregator(engine, k=5)
    maintained = await aggregator.distinct_users_by("2026-10", (await aggregator.month("2026-10")).published, dims)
    counted_afresh = await UsageAggregator(engine, k=5).distinct_users_by("2026-10", usage.published, dims)
    assert maintained == counted_afresh == {key: len(people) for key, people in expected.items()}


async def test_market_based_is_not_available_in_the_report_and_api_when_answered_requests_had_no_factor(
    engine, register
):
    from gateway.inventory.usage import figures_json

    rows = [usage_row(f"e{i}", "translation", "finance", "mistral-small", OCT) for i in range(6)]
    for row in rows[:2]:
        row["gwp_market_ug"] = None  # no market-based factor declared for what served them
    refused = {**usage_row("e0", "translation", "finance", None, OCT), "status": "budget_exceeded",
               "http_status": 429, "gwp_ug": 0, "gwp_market_ug": None}
    await seed(engine, [*rows, refused])
    report = await build_report(engine, register, UsageAggregator(engine, 5), Catalogue.load(None), "2026-10")
    total = report.usage.total
    assert (total.refused, total.market_missing_requests, total.gco2e_market) == (1, 3, None)
    assert figures_json(total)["gco2e_market"] is None and figures_json(total)["gco2e_location"] > 0
    english, french = render_markdown(report, "en"), render_markdown(report, "fr")
    assert "| kgCO2e (market-based) | n/a (2 answered requests had no market-based factor) |" in english
    assert "n.d. (2 requêtes servies sans facteur market-based)" in french
    csv_total = next(line.split(",") for line in render_csv(report).splitlines() if ",(total)," in line)
    assert csv_total[8] == "" and float(csv_total[7]) > 0


async def test_market_based_is_given_when_every_answered_request_had_a_factor(engine, register):
    rows = [usage_row(f"e{i}", "translation", "finance", "mistral-small", OCT) for i in range(6)]
    refused = {**usage_row("e0", "translation", "finance", None, OCT), "status": "budget_exceeded",
               "http_status": 429, "gwp_ug": 0, "gwp_market_ug": None}
    await seed(engine, [*rows, refused])
    report = await build_report(engine, register, UsageAggregator(engine, 5), Catalogue.load(None), "2026-10")
    assert report.usage.total.gco2e_market == pytest.approx(6 * 1000 / 1e6)
    assert "n/a" not in render_markdown(report, "en")
    csv_total = next(line.split(",") for line in render_csv(report).splitlines() if ",(total)," in line)
    assert float(csv_total[8]) == pytest.approx(0.006)
