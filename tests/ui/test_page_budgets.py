"""Every page in a real browser: no serious or critical axe-core violation, and within its weight budgets.

Each page's weight (first visit with an empty cache, repeat visit) and axe result are
written to test-artifacts/ui/pages.json with a full-page screenshot beside it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.browser import ARTIFACTS, FIRST_LOAD_BUDGET, REPEAT_LOAD_BUDGET, PageReport, record, serious_violations, sign_in, weigh

pytestmark = pytest.mark.browser
PAGES = [
    ("sign-in", None, "/ui/sign-in"),
    ("employee-usage", "employee", "/ui/me"),
    ("committee-inventory", "committee", "/ui/committee/use-cases"),
    ("committee-use-case", "committee", "/ui/committee/use-cases/translation"),
    ("committee-aggregates", "committee", "/ui/committee/usage"),
    ("admin-models", "admin", "/ui/admin/models"),
    ("admin-budgets", "admin", "/ui/admin/budgets"),
    ("admin-keys", "admin", "/ui/admin/keys"),
    ("admin-policy", "admin", "/ui/admin/policy"),
    ("admin-audit", "admin", "/ui/admin/audit"),
]


@pytest.fixture(scope="module")
def sessions(browser, gateway, keys) -> dict:
    """Signed-in browser state per role, so each page can be weighed with an empty cache."""
    states: dict[str | None, Any] = {None: {"cookies": [], "origins": []}}
    for role in ("employee", "committee", "admin"):
        context = browser.new_context(locale="en-GB")
        page = context.new_page()
        sign_in(page, gateway.base_url, getattr(keys, role))
        states[role] = context.storage_state()
        context.close()
    return states


@pytest.mark.parametrize(("name", "role", "path"), PAGES, ids=[p[0] for p in PAGES])
def test_page_is_accessible_and_light(name, role, path, browser, gateway, sessions, axe):
    first, repeat, page = weigh(browser, sessions[role], f"{gateway.base_url}{path}", ARTIFACTS / f"{name}.png")
    violations = serious_violations(page, axe)
    record(PageReport(name, path, first, repeat, violations))
    page.context.close()
    assert violations == []
    assert 0 < first <= FIRST_LOAD_BUDGET
    assert repeat <= REPEAT_LOAD_BUDGET
