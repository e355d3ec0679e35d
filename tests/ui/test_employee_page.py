"""The employee's page: own usage, budgets, last requests and footprint comparisons."""

from __future__ import annotations

import re

import pytest

from tests.ui.browser import sign_in

pytestmark = pytest.mark.browser


def test_the_employee_sees_their_own_totals_and_last_requests(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.employee)
    figures = page.locator("dl.figures")
    assert figures.locator("div", has_text="Requests").locator("dd").inner_text() == "2"
    last = page.get_by_role("table", name="Your 20 most recent requests (no prompt or answer text is kept)")
    rows = last.locator("tbody tr")
    assert rows.count() == 2
    assert {rows.nth(i).locator("td").nth(1).inner_text() for i in range(2)} == {"translation", "summarisation"}


def test_budgets_are_gauges_with_the_amount_left(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.employee)
    money = page.get_by_label("Your budget · money")
    assert money.evaluate("m => m.tagName") == "METER"
    assert float(money.get_attribute("value")) < float(money.get_attribute("max"))
    assert page.get_by_text("left of €50.00").count() == 1


def test_charts_have_a_text_alternative_and_a_table(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.employee)
    chart = page.get_by_role("img", name="Carbon per day")
    assert chart.get_attribute("aria-describedby") == "days-desc"
    assert page.get_by_role("table", name="By model").locator("tbody tr").count() >= 1


def test_each_comparison_names_its_source(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.employee)
    items = page.locator("ul.compare li")
    assert items.count() == 3
    assert re.search(r"\d (m|km) driven", items.nth(0).inner_text()) and "ADEME" in items.nth(0).inner_text()
    for i in range(3):
        assert "Source:" in items.nth(i).inner_text()


def test_the_page_speaks_french_with_french_numbers(browser, gateway, keys):
    context = browser.new_context(locale="fr-FR", extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    page = context.new_page()
    sign_in(page, gateway.base_url, keys.employee)
    assert page.get_by_role("heading", level=1).inner_text() == "Mon usage"
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_text("restants sur 50,00\u00a0€").count() == 1
    context.close()
