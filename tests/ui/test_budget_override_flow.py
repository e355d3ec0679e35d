"""An admin overrides one employee's budget on the page, by employee id, and sees it apply, in English and French."""

from __future__ import annotations

import re

import httpx
import pytest

from gateway.i18n import translate
from tests.ui.browser import at_both_widths, sign_in, ui_key
from tests.ui.conftest import chat

pytestmark = pytest.mark.browser


def _pseudonym(gateway, employee: str) -> str:
    """The employee's pseudonym, as an admin links it (audited, with a reason) through the JSON API."""
    answer = httpx.post(f"{gateway.base_url}/admin/pseudonyms", headers={"Authorization": f"Bearer {gateway.admin_key}"},
                        json={"employee_id": employee, "reason": "test: check the override's stored scope"},
                        timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["pseudonym"]


@pytest.mark.parametrize("locale", ["en-GB", "fr-FR"])
def test_an_admin_overrides_one_employees_budget_and_it_applies_to_their_next_request(browser, gateway, keys, locale):
    lang = locale[:2]

    def t(key: str, **params: object) -> str:
        return translate(key, lang, **params)

    employee, colleague = f"olga-{lang}", f"omar-{lang}"
    # In finance, the department already large enough to publish: the other pages' tests keep their picture.
    key = ui_key(gateway.base_url, gateway.admin_key, employee, "finance")
    colleague_key = ui_key(gateway.base_url, gateway.admin_key, colleague, "finance")
    assert chat(gateway, key, "translation").status_code == 200  # the default budget admits it
    context = browser.new_context(locale=locale)
    page = context.new_page()
    try:
        sign_in(page, gateway.base_url, keys.admin, "/ui/admin/budgets")
        page.get_by_label(t("ui.col.scope"), exact=True).fill(f"employee:{employee}")
        page.get_by_label(t("ui.budgets.eur")).fill("0,000001" if lang == "fr" else "0.000001")
        page.get_by_role("button", name=t("ui.budgets.save")).click()
        page.wait_for_url(re.compile(r"/ui/admin/budgets\?saved="))

        stored = f"employee:{_pseudonym(gateway, employee)}"
        label = t("ui.budgets.employee_scope", pseudonym=stored[9:17] + "…")
        assert page.get_by_role("status").inner_text() == t("ui.budgets.saved", scope=label)
        row = page.get_by_role("row", name=re.compile(re.escape(label)))
        assert row.count() == 1 and employee not in page.content()  # shown by pseudonym, never by id
        assert t("ui.budgets.override") in row.inner_text()
        assert ("0,000001\u00a0€" if lang == "fr" else "€0.000001") in row.inner_text()

        refused = chat(gateway, key, "translation")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
        assert chat(gateway, colleague_key, "translation").status_code == 200  # only this employee is held
        page.reload()
        consumption = page.get_by_role("row", name=re.compile(re.escape(label))).locator("td").nth(1).inner_text()
        assert consumption.endswith("0,000001\u00a0€" if lang == "fr" else "€0.000001")
        assert at_both_widths(page, f"budget-override-{lang}") == {390: 0, 1280: 0}

        page.get_by_label(t("ui.col.scope"), exact=True).fill(f"employee:{employee}")
        page.get_by_label(t("ui.budgets.eur")).fill("25")
        page.get_by_role("button", name=t("ui.budgets.save")).click()
        page.wait_for_url(re.compile(r"/ui/admin/budgets\?saved="))
        assert ("25,00\u00a0€" if lang == "fr" else "€25.00") in page.get_by_role("row", name=re.compile(
            re.escape(label))).inner_text()
        assert chat(gateway, key, "translation").status_code == 200  # raised: admitted again

        page.get_by_role("button", name=t("ui.budgets.remove_for", scope=label)).click()
        page.wait_for_url(re.compile(r"/ui/admin/budgets\?removed="))
        assert page.get_by_role("status").inner_text() == t("ui.budgets.removed", scope=label)
        assert page.get_by_role("row", name=re.compile(re.escape(label))).count() == 0
        page.goto(f"{gateway.base_url}/ui/admin/audit")
        entries = page.get_by_role("row", name=re.compile(re.escape(stored)))
        assert entries.filter(has_text="budget.set").count() == 2 and entries.filter(has_text="budget.remove").count() == 1
        assert all(employee not in entries.nth(i).inner_text() for i in range(entries.count()))  # pseudonym only
    finally:
        context.close()


@pytest.mark.parametrize("value", ["1e400", "-3", "abc", "NaN", "0.0000001", "9" * 40])
def test_an_out_of_range_limit_is_refused_in_words_and_nothing_is_stored(page, gateway, keys, value):
    sign_in(page, gateway.base_url, keys.admin, "/ui/admin/budgets")
    before = page.get_by_role("table", name=translate("ui.budgets.scopes", "en")).locator("tbody tr").count()
    page.get_by_label("Scope", exact=True).fill("employee:range-check")
    page.get_by_label("Limit in euros").fill(value)
    page.get_by_role("button", name="Save override").click()
    alert = page.get_by_role("alert").inner_text()
    assert alert.startswith(("A limit", "This limit")), alert
    assert page.get_by_label("Limit in euros").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Limit in euros").input_value() == value  # kept to correct
    assert page.get_by_role("table", name=translate("ui.budgets.scopes", "en")).locator("tbody tr").count() == before
