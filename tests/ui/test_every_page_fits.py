"""Every page type, in English and French, at 390 and 1280 px: no sideways scrolling of the page,
no serious axe-core violation, a screenshot of each in test-artifacts/ui/pages/."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.ui.browser import ARTIFACTS, WIDTHS, PAGE_SCROLL_JS, serious_violations, sign_in, ui_key

pytestmark = pytest.mark.browser
YEAR = str(datetime.now(UTC).year)
PAGES = [
    ("sign-in", None, "/ui/sign-in"),
    ("not-found", None, "/ui/no-such-page"),
    ("me", "employee", "/ui/me"),
    ("forbidden", "employee", "/ui/admin/keys"),
    ("inventory", "committee", "/ui/committee/use-cases"),
    ("use-case", "committee", "/ui/committee/use-cases/translation"),
    ("use-case-new", "committee", "/ui/committee/use-cases-new"),
    ("use-case-edit", "committee", "/ui/committee/use-cases/translation/edit"),
    ("usage-use-case", "committee", "/ui/committee/usage"),
    ("usage-department", "committee", "/ui/committee/usage?by=department"),
    ("usage-model", "committee", "/ui/committee/usage?by=model"),
    ("drift", "committee", "/ui/committee/drift"),
    ("csr-month", "csr", "/ui/csr"),
    ("csr-year", "csr", f"/ui/csr?period={YEAR}"),
    ("models", "admin", "/ui/admin/models"),
    ("budgets", "admin", "/ui/admin/budgets"),
    ("keys", "admin", "/ui/admin/keys"),
    ("revoke", "admin", "/ui/admin/keys/{committee_key_id}/revoke"),
    ("policy", "admin", "/ui/admin/policy"),
    ("audit", "admin", "/ui/admin/audit"),
]


@pytest.fixture(scope="module")
def role_keys(gateway, keys) -> dict:
    return {"employee": keys.employee, "committee": keys.committee, "admin": keys.admin,
            "csr": ui_key(gateway.base_url, gateway.admin_key, "rse-lead", "rse", "csr")}


@pytest.mark.parametrize("locale", ["en-GB", "fr-FR"])
@pytest.mark.parametrize("role", [None, "employee", "committee", "csr", "admin"])
def test_every_page_fits_both_widths_and_passes_axe(browser, gateway, keys, role_keys, axe, role, locale):
    context = browser.new_context(locale=locale, bypass_csp=True)
    page = context.new_page()
    folder = ARTIFACTS / "pages"
    folder.mkdir(parents=True, exist_ok=True)
    problems: dict[str, object] = {}
    try:
        if role:
            sign_in(page, gateway.base_url, role_keys[role])
        for name, needs, path in PAGES:
            if needs != role:
                continue
            page.goto(gateway.base_url + path.format(committee_key_id=keys.committee.removeprefix("sk-sobria-")[:8]))
            assert page.locator("h1").count() == 1, name
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                overflow = page.evaluate(PAGE_SCROLL_JS)
                if overflow:
                    problems[f"{name}@{width}"] = overflow
                page.screenshot(path=str(folder / f"{name}-{locale[:2]}-{width}.png"), full_page=True)
            violations = serious_violations(page, axe)
            if violations:
                problems[f"{name} axe"] = violations
    finally:
        context.close()
    assert problems == {}
