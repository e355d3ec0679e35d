"""The CSR report: served vs refused, location- and market-based carbon, ranges, scopes, FR/EN, PDF pages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.providers.catalogue import Catalogue
from gateway.inventory.csr import build_csr_report, months_of
from gateway.inventory.csr_render import render_csv, render_markdown, render_pdf
from gateway.inventory.usage import UsageAggregator
from gateway.inventory.views import CommitteeViews
from tests.conftest import IN_CI
from tests.inventory.conftest import seed, usage_row
from tests.processes import SOBRIA

MAR, JUL = datetime(2026, 3, 3, 9, 0, tzinfo=UTC), datetime(2026, 7, 8, 9, 0, tzinfo=UTC)


def ledger() -> list[dict]:
    rows = [usage_row(f"fin{i}", "analysis", "finance", "mistral-small", JUL, gwp_ug=3_000_000) for i in range(7)]
    rows += [usage_row(f"ops{i}", "translation", "ops", "mistral-large", JUL) for i in range(6)]
    rows += [usage_row("leg0", "drafting", "legal", "mistral-medium", JUL)]
    rows += [usage_row(f"hr{i}", "coding" if i < 2 else "search", "hr", "mistral-medium", JUL) for i in range(4)]
    refused = usage_row("ops0", "translation", "ops", None, JUL, gwp_ug=0, cost_micro_eur=0, energy_wh=0.0)
    refused.update(status="budget_exceeded", http_status=429, gwp_market_ug=None)
    rows += [refused]
    no_factor = [usage_row(f"mar{i}", "analysis", "finance", "mistral-small", MAR) for i in range(5)]
    rows += [{**row, "gwp_market_ug": None} for row in no_factor]
    for row in rows:
        row.update(gwp_g_min=row["gwp_ug"] / 2e6, gwp_g_max=row["gwp_ug"] * 3 / 1e6,
                   energy_wh_min=row["energy_wh"] / 2, energy_wh_max=row["energy_wh"] * 2)
    return rows


@pytest.fixture
async def views(engine):
    await seed(engine, ledger())
    return CommitteeViews(engine, UsageAggregator(engine, k=5))


async def report(engine, views, period):
    return await build_csr_report(engine, views, Catalogue.load(), period)


async def test_a_month_separates_served_from_refused_and_gives_both_carbon_methods_with_a_range(engine, views):
    july = await report(engine, views, "2026-07")
    totals = july.totals
    assert (totals.served, totals.refused, totals.users) == (18, 1, 18)
    assert totals.gwp_ug == 7 * 3_000_000 + 11 * 2000
    assert totals.gwp_market_ug == sum(r["gwp_market_ug"] or 0 for r in ledger() if r["started_at"] == JUL)
    assert totals.gwp_g_min < totals.gco2e < totals.gwp_g_max


async def test_market_based_is_not_available_when_a_served_request_had_no_market_factor(engine, views):
    march = await report(engine, views, "2026-03")
    assert march.totals.gco2e_market is None and march.totals.served_without_market_factor == 5
    assert "n/a" in render_markdown(march, "en") and "n.d." in render_markdown(march, "fr")


async def test_the_annual_report_covers_twelve_months_per_department_and_use_case_with_ratios(engine, views):
    year = await report(engine, views, "2026")
    assert year.annual and len(year.trend) == 12 and months_of("2026")[0] == "2026-01"
    analysis = year.by_use_case.row("analysis")
    assert analysis is not None and analysis.users == 12
    assert year.by_use_case.hidden_reason("drafting").kind == "primary"
    assert year.by_department.row("legal") is None
    trend = {p.month: p.totals for p in year.trend}
    assert trend["2026-07"].served == 18 and trend["2026-05"].served == 0


async def test_each_model_line_carries_its_ghg_scope(engine, views):
    year = await report(engine, views, "2026")
    assert set(year.scopes.values()) <= {"scope3_cat1", "scope2", "none", "unknown"}
    assert "mistral-small" in year.scopes
    lines = render_csv(year).splitlines()
    assert lines[0].startswith("section,key,ghg_scope") and any(line.startswith("model,mistral-small,") for line in lines)


async def test_the_french_report_uses_french_words_and_number_formats(engine, views):
    text = render_markdown(await report(engine, views, "2026-07"), "fr")
    assert "juil. 2026" in text and "Requêtes servies" in text
    assert "21,0 g" in text or "21,01 g" in text
    for english in ("Requests", "Carbon", "Energy", "hidden", "Total", "range", "n/a"):
        assert not re.search(rf"\b{english}\b", text), english


def pages_and_text(pdf):
    """The PDF's pages as PNG files (pdftoppm) and its text (pdftotext)."""
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(pdf.parent / "page")], check=True)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return sorted(pdf.parent.glob("page-*.png")), text


async def test_the_pdf_has_pages_that_render_to_images(engine, views, tmp_path):
    if shutil.which("pdftoppm") is None:
        if IN_CI:
            pytest.fail("pdftoppm is missing (poppler-utils; .ci/run installs it)")
        pytest.skip("pdftoppm is missing (apt-get install poppler-utils)")
    pdf = tmp_path / "annual.pdf"
    pdf.write_bytes(render_pdf(await report(engine, views, "2026"), "fr"))
    assert pdf.read_bytes().startswith(b"%PDF-")
    pages, text = pages_and_text(pdf)
    assert pages and all(p.stat().st_size > 2000 for p in pages)
    assert "Rapport RSE annuel Sobria, 2026" in text and "Scope 3" in text


async def test_refused_requests_are_not_requests_in_the_department_and_use_case_lines(engine, views):
    july = await report(engine, views, "2026-07")
    for view, key in ((july.by_department, "ops"), (july.by_use_case, "translation")):
        row = view.row(key)
        assert (row.figures.served, row.figures.refused, row.users) == (6, 1, 6)
    ops = july.by_department.row("ops").figures
    per_request = f"{ops.gco2e / 6:.3f}".rstrip("0")
    text = render_markdown(july, "en")
    line = next(line for line in text.splitlines() if line.startswith("| ops |"))
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[1:4] == ["6", "1", "6"] and cells[5].startswith(per_request)
    csv_line = next(line for line in render_csv(july).splitlines() if line.startswith("department,ops,"))
    assert csv_line.split(",")[3:7] == ["6", "1", "7", "6"]  # served, refused, all, active users


async def test_the_english_report_holds_every_item_a_csrd_reader_looks_for(engine, views):
    july = await report(engine, views, "2026-07")
    text = render_markdown(july, "en")
    totals = {row.split("|")[1].strip(): row.split("|")[2].strip() for row in text.splitlines()
              if row.startswith("| ") and row.count("|") == 3}
    assert totals["Requests served"] == "18" and totals["Requests refused"] == "1"
    assert re.fullmatch(r"[\d.]+ g \(range [\d.]+ g to [\d.]+ g\)", totals["Carbon, location-based"])
    assert re.fullmatch(r"[\d.]+ g", totals["Carbon, market-based"])  # side by side with the location-based
    assert "| Month | Requests served | Requests refused |" in text and text.count("| Jul 2026 |") == 1
    assert "| ecologits-hosted | 2026.1 |" in text  # the factor-set version
    assert "/v1/impacts/methodology" in text
    assert "Scope 3, category 1" in text or "Unknown model" in text
    assert "21.0 g" in text or "21.01 g" in text  # English decimals
    big = await report(engine, views, "2026")
    assert "€" in render_markdown(big, "en") and "\u00a0€" in render_markdown(big, "fr")


async def test_totals_that_would_give_back_a_hidden_use_case_are_withheld(engine):
    """One person alone in a use case: the month total minus the use cases shown would be their figures."""
    rows = [usage_row(f"fin{i}", "analysis", "finance", "mistral-small", JUL) for i in range(7)]
    rows += [usage_row("leg0", "drafting", "legal", "mistral-medium", JUL, gwp_ug=777_000)]
    await seed(engine, rows)
    views = CommitteeViews(engine, UsageAggregator(engine, k=5))
    for period in ("2026-07", "2026"):
        built = await report(engine, views, period)
        assert built.totals is None and built.totals_withheld == "complementary"
        assert built.by_use_case.row("analysis").users == 7  # the use case of k or more still shows
        assert {p.month: p.totals for p in built.trend}["2026-07"] is None
        text = render_markdown(built, "en")
        assert "would give back the figures of fewer than 5 people" in text and "0.777" not in text


def test_a_cost_below_a_cent_is_not_printed_as_zero():
    from gateway.inventory.csr_render import _money

    assert _money(5150, "fr") == "0,00515\u00a0€" and _money(5150, "en") == "€0.00515"
    assert _money(12, "en") == "€0.000012" and _money(0, "en") == "€0.00" and _money(1_234_560_000, "en") == "€1,234.56"


async def test_the_cli_writes_the_same_annual_report_as_the_page_in_each_format(engine, views, database_url, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("SOBRIA_")}
    env |= {"SOBRIA_DATABASE_URL": database_url, "SOBRIA_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([str(SOBRIA), "csr-report", "--period", "2026", "--language", "fr", "--out", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    written = {Path(line).suffix: Path(line) for line in done.stdout.split()}
    assert set(written) == {".pdf", ".md", ".csv"}
    expected = await report(engine, views, "2026")
    assert written[".md"].read_text(encoding="utf-8") == render_markdown(expected, "fr")
    assert written[".csv"].read_bytes().decode("utf-8") == render_csv(expected)
    assert written[".pdf"].read_bytes().startswith(b"%PDF-")
    refused = subprocess.run([str(SOBRIA), "csr-report", "--period", "2026-13"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and "YYYY" in refused.stderr and "Traceback" not in refused.stderr
