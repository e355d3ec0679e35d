"""The committee's pages: inventory, a use case's decisions, aggregated usage and its export."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from tests.ui.browser import sign_in
from tests.ui.conftest import chat

pytestmark = pytest.mark.browser


def test_the_inventory_filters_by_status_and_shows_badges(page, gateway, keys, use_case_under_review):
    sign_in(page, gateway.base_url, keys.committee, "/ui/committee/use-cases")
    page.get_by_label("Status").select_option("under_review")
    page.get_by_role("button", name="Apply").click()
    table = page.get_by_role("table")
    assert table.locator("tbody tr").count() == 1
    assert table.locator("tbody tr").first.locator(".badge").nth(1).inner_text() == "Under review"


def test_the_committee_approves_a_use_case_with_a_comment(page, gateway, keys, use_case_under_review):
    sign_in(page, gateway.base_url, keys.committee, f"/ui/committee/use-cases/{use_case_under_review}")
    page.get_by_label("Comment (recorded with the decision)").fill("Approved for all departments")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()
    assert page.locator("h1 + p .badge").first.inner_text() == "Approved"
    assert "Approved for all departments" in page.locator("dl.facts").inner_text()
    assert page.get_by_role("table", name="History").locator("tbody tr").first.locator("td").nth(2).inner_text() == "transition"


def test_a_suspension_without_comment_is_refused_inline(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.committee, "/ui/committee/use-cases/drafting")
    page.get_by_role("button", name="Suspend").click()
    assert page.get_by_role("alert").is_visible()
    assert page.get_by_label("Comment (recorded with the decision)").get_attribute("aria-invalid") == "true"


def test_a_suspended_use_case_is_refused_by_the_gateway(page, gateway, keys):
    assert chat(gateway, keys.colleague, "analysis").status_code == 200
    sign_in(page, gateway.base_url, keys.committee, "/ui/committee/use-cases/analysis")
    page.get_by_label("Comment (recorded with the decision)").fill("Paused pending a data protection review")
    page.get_by_role("button", name="Suspend").click()
    page.wait_for_load_state()
    assert page.locator("h1 + p .badge").first.inner_text() == "Suspended"
    refused = chat(gateway, keys.colleague, "analysis")
    assert refused.status_code == 403


def test_aggregates_by_department_never_show_a_group_below_k(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.committee, "/ui/committee/usage?by=department")
    rows = page.get_by_role("table").locator("tbody tr th")
    labels = [rows.nth(i).inner_text() for i in range(rows.count())]
    assert "finance" in labels and "legal" not in labels
    assert any(label.startswith("Small groups combined") for label in labels)


def test_the_aggregate_downloads_as_csv_with_the_same_suppression(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.committee, "/ui/committee/usage?by=department")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as CSV").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert {row["department"] for row in rows} >= {"finance"} and "legal" not in {row["department"] for row in rows}


def test_the_committee_csv_is_refused_without_a_session(gateway):
    response = httpx.get(f"{gateway.base_url}/ui/committee/usage.csv", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/ui/sign-in")


def test_the_register_downloads_as_csv_from_the_inventory_page(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.committee, "/ui/committee/use-cases")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export the register (CSV)").click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert "translation" in text and "summarisation" in text
