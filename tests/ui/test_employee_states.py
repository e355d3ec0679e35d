"""The employee's page in the states that matter: a new hire, a budget nearly spent, a refused request.

English and French, in Chromium. The employees join finance (already large enough to
publish), so the committee's and the CSR director's pictures stay as the other tests read them.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal

import httpx
import pytest

from gateway.i18n import translate
from tests.ui.browser import at_both_widths, sign_in, ui_key
from tests.ui.conftest import chat

pytestmark = pytest.mark.browser
LOCALES = ["en-GB", "fr-FR"]


def _axis_labels(page, chart: str) -> list[str]:
    return page.get_by_role("img", name=chart).locator("text.axis:not(.unit)").all_text_contents()


def _wait_for_requests(gateway, key: str, count: int) -> None:
    """Until the ledger holds `count` requests of this key's employee (its writer flushes in the background)."""
    deadline = time.monotonic() + 30
    while True:
        mine = httpx.get(f"{gateway.base_url}/v1/me/usage", headers={"Authorization": f"Bearer {key}"}, timeout=30)
        if mine.json()["totals"]["requests"] >= count or time.monotonic() > deadline:
            return
        time.sleep(0.1)


@pytest.mark.parametrize("locale", LOCALES)
def test_a_new_hire_sees_a_useful_empty_page_with_readable_axes(browser, gateway, locale):
    lang = locale[:2]
    key = ui_key(gateway.base_url, gateway.admin_key, f"hugo-{lang}", "finance")
    context = browser.new_context(locale=locale)
    page = context.new_page()
    try:
        sign_in(page, gateway.base_url, key)
        empty = page.get_by_role("region", name=translate("ui.me.empty_title", lang))
        assert empty.inner_text().endswith(translate("ui.me.empty", lang))
        chart = translate("ui.me.by_day", lang)
        assert page.get_by_role("img", name=chart).locator("text.unit").text_content() == translate("ui.unit.gco2e", lang)
        decimal = "," if lang == "fr" else "."
        assert _axis_labels(page, chart)[:5] == ["0", f"0{decimal}25", f"0{decimal}5", f"0{decimal}75", "1"]
        assert page.locator("p.notice.warn").count() == 0
        assert at_both_widths(page, f"me-new-hire-{lang}") == {390: 0, 1280: 0}
    finally:
        context.close()


@pytest.mark.parametrize("locale", LOCALES)
def test_a_nearly_spent_budget_warns_and_a_refusal_reads_in_words(browser, gateway, locale):
    lang = locale[:2]

    def t(key: str, **params: object) -> str:
        return translate(key, lang, **params)

    employee = f"nina-{lang}"
    key = ui_key(gateway.base_url, gateway.admin_key, employee, "finance")
    assert chat(gateway, key, "translation").status_code == 200
    admin = httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {gateway.admin_key}"}, timeout=30)
    mine = httpx.get(f"{gateway.base_url}/v1/me/usage", headers={"Authorization": f"Bearer {key}"}, timeout=30).json()
    spent = Decimal(next(b["spent"] for b in mine["budgets"] if b["scope"] == "employee" and b["unit"] == "EUR"))
    assert spent > 0  # settled with the answer (the ledger row may still be on its way)
    limit = (spent / Decimal("0.9")).quantize(Decimal("0.000001"))
    assert admin.put(f"/admin/budgets/employee:{employee}", json={"eur": str(limit)}).status_code == 200
    refused = chat(gateway, key, "translation")  # its worst case is more than the tenth that is left
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
    _wait_for_requests(gateway, key, 2)
    context = browser.new_context(locale=locale)
    page = context.new_page()
    try:
        sign_in(page, gateway.base_url, key)
        warning = t("ui.me.warning", scope=t("ui.budget.scope.employee"), unit=t("ui.budget.unit.eur"))
        assert warning in page.locator("p.notice.warn").all_inner_texts()
        assert page.get_by_text(t("ui.me.refusals")).count() == 1
        frees = page.get_by_text(re.compile(re.escape(t("ui.me.frees_on", day="@@").split("@@")[0])))
        assert frees.count() == 1
        money = page.locator("meter").first
        exact = f"{limit:f}".replace(".", ",") + "\u00a0€" if lang == "fr" else f"€{limit:f}"
        assert page.get_by_text(re.compile(re.escape(exact) + "$")).count() == 1  # a sub-cent limit is not "0.00"
        assert float(money.get_attribute("value")) < 0.2 * float(money.get_attribute("max"))

        served, refusals = page.locator("dl.figures div").nth(1).locator("dd").inner_text().split(" / ")
        assert (served, refusals) == ("1", "1")
        for name in ("ui.metric.gco2e", "ui.metric.energy"):
            ranges = page.locator("dl.figures div", has=page.get_by_text(t(name), exact=True)).locator("dd.range")
            assert ranges.inner_text().startswith(t("ui.me.range", low="@@", high="").split("@@")[0])

        statuses = page.get_by_role("table", name=t("ui.me.last_caption")).locator("tbody tr td:nth-child(4)")
        assert sorted(statuses.all_inner_texts()) == sorted([t("ui.request_status.ok"),
                                                             t("ui.request_status.budget_exceeded")])
        assert "budget_exceeded" not in page.locator("main").inner_text()
        assert at_both_widths(page, f"me-nearly-spent-{lang}") == {390: 0, 1280: 0}
    finally:
        context.close()
        assert admin.delete(f"/admin/budgets/employee:{employee}").status_code == 200
