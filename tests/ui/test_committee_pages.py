"""The committee's pages: inventory, a use case's decisions, aggregated usage and its export."""

from __future__ import annotations

import re

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


def decide(page, target: str, comment: str = "") -> None:
    page.get_by_label("New status").select_option(target)
    page.get_by_label("Comment (recorded with the decision)").fill(comment)
    page.get_by_role("button", name="Record the decision").click()
    page.wait_for_load_state()


def test_the_committee_approves_a_use_case_with_a_comment(page, gateway, keys, use_case_under_review):
    sign_in(page, gateway.base_url, keys.committee, f"/ui/committee/use-cases/{use_case_under_review}")
    decide(page, "approved", "Approved for all departments")
    assert page.locator("h1 + p .badge").first.inner_text() == "Approved"
    assert "Approved for all departments" in page.locator("dl.facts").last.inner_text()
    history = page.get_by_role("table", name="History").locator("tbody tr").first.locator("td")
    assert history.nth(2).inner_text() == "Status changed"


def test_a_suspension_without_comment_is_refused_inline(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.committee, "/ui/committee/use-cases/drafting")
    decide(page, "suspended")
    assert page.get_by_role("alert").inner_text().startswith("Moving to \u201cSuspended\u201d needs a comment")
    assert page.get_by_label("Comment (recorded with the decision)").get_attribute("aria-invalid") == "true"


def test_the_committee_rejects_a_use_case_with_its_reason_and_the_rejection_is_audited(browser, gateway, keys):
    api = httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {keys.committee}"}, timeout=30)
    record = {"id": "press-review", "identity": {"name": "Press review", "owner": "com@example.fr"},
              "purpose": {"problem": "Reading the press takes a morning", "why_generative_ai": "Summaries of articles"}}
    assert api.post("/committee/use-cases", json=record).status_code == 201
    for status in ("submitted", "under_review"):
        assert api.post("/committee/use-cases/press-review/transition", json={"status": status}).status_code == 200
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    try:
        sign_in(page, gateway.base_url, keys.committee, "/ui/committee/use-cases/press-review")
        decide(page, "rejected")
        assert page.get_by_role("alert").inner_text().startswith("Moving to \u201cRejected\u201d needs a comment")
        assert page.locator("h1 + p .badge").first.inner_text() == "Under review"
        decide(page, "rejected", "Licensed press content may not be sent to a model provider")
        assert page.locator("h1 + p .badge").first.inner_text() == "Rejected"
        assert "Licensed press content" in page.locator("dl.facts").last.inner_text()
        sign_in(page, gateway.base_url, keys.admin, "/ui/admin/audit")
        entries = page.get_by_role("row", name=re.compile("use_case:press-review"))
        assert entries.filter(has_text="use_case.transition").count() == 3  # submitted, under review, rejected
    finally:
        context.close()


def test_a_suspended_use_case_is_refused_by_the_gateway(page, gateway, keys):
    assert chat(gateway, keys.colleague, "analysis").status_code == 200
    sign_in(page, gateway.base_url, keys.committee, "/ui/committee/use-cases/analysis")
    decide(page, "suspended", "Paused pending a data protection review")
    assert page.locator("h1 + p .badge").first.inner_text() == "Suspended"
    refused = chat(gateway, keys.colleague, "analysis")
    assert refused.status_code == 403


def test_aggregates_by_department_never_show_a_group_below_k_and_say_why(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.committee, "/ui/committee/usage?by=department")
    rows = page.get_by_role("table").locator("tbody tr")
    by_label = {rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").first.inner_text()
                for i in range(rows.count())}
    assert by_label["legal"] == "Hidden: fewer than 5 people in this group"
    assert by_label["finance"].startswith("Hidden with the small groups")


def test_a_use_case_used_by_k_people_shows_its_own_totals(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.committee, "/ui/committee/usage?by=use_case")
    rows = page.get_by_role("table").locator("tbody tr")
    by_label = {rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").first.inner_text()
                for i in range(rows.count())}
    assert re.fullmatch(r"\d+ / \d+", by_label["summarisation"]) and re.fullmatch(r"\d+ / \d+", by_label["translation"])
    assert int(by_label["summarisation"].split(" / ")[0]) >= 8  # served, refusals apart


def test_the_aggregate_downloads_as_csv_with_the_same_suppression(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.committee, "/ui/committee/usage?by=department")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as CSV").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    departments = {row["department"] for row in rows}
    assert "legal" not in departments and "finance" not in departments


def test_the_committee_csv_is_refused_without_a_session(gateway):
    response = httpx.get(f"{gateway.base_url}/ui/committee/usage.csv", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/ui/sign-in")


def test_the_register_downloads_as_csv_from_the_inventory_page(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.committee, "/ui/committee/use-cases")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export the register (CSV)").click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert "translation" in text and "summarisation" in text
