"""Employees sign in through the organisation's identity provider (a real OIDC provider on loopback)."""

from __future__ import annotations

import re

import pytest

from gateway.i18n import translate
from tests.ui.browser import at_both_widths

pytestmark = pytest.mark.browser


def sign_in_at_provider(page, gateway, issuer: str, target: str, login: str, locale: str) -> None:
    """Open `target`, choose the organisation account, log in at the provider as `login`."""
    page.goto(f"{gateway.base_url}{target}")
    assert "/ui/sign-in" in page.url
    page.get_by_role("link", name=translate("ui.oidc.button", locale[:2])).click()
    page.wait_for_url(re.compile(re.escape(issuer) + "/interaction/"))
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


@pytest.mark.parametrize(("locale", "button", "heading", "requests_label"), [
    ("en-GB", "Sign in with your organisation account", "My usage", "Requests"),
    ("fr-FR", "Se connecter avec son compte de l'organisation", "Mon usage", "Requêtes"),
])
def test_an_employee_signs_in_with_the_identity_provider_and_sees_their_gateway_traffic(
        browser, gateway, keys, oidc_provider, locale, button, heading, requests_label):
    context = browser.new_context(locale=locale)
    page = context.new_page()
    try:
        page.goto(f"{gateway.base_url}/ui/me")
        assert "/ui/sign-in" in page.url
        page.get_by_role("link", name=button).click()
        page.wait_for_url(re.compile(re.escape(oidc_provider) + "/interaction/"))
        page.locator("input[name=login]").fill("fin-2")
        page.locator("input[name=password]").fill("any password")
        page.get_by_role("button", name="Sign-in").click()
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"{gateway.base_url}/ui/me")
        assert page.get_by_role("heading", level=1).inner_text() == heading
        assert "fin-2 · finance" in page.locator("form.signout").inner_text()
        figures = page.locator("dl.figures")
        assert figures.locator("div", has_text=requests_label).first.locator("dd").inner_text() == "2"
        assert at_both_widths(page, f"me-oidc-{locale}") == {390: 0, 1280: 0}
    finally:
        context.close()


def test_a_callback_that_did_not_start_here_signs_nobody_in(page, gateway, oidc_provider):
    page.goto(f"{gateway.base_url}/ui/oidc/callback?state=forged&code=stolen")
    assert page.get_by_role("alert").inner_text().startswith("This sign-in has expired or did not start here")
    page.goto(f"{gateway.base_url}/ui/me")
    assert "/ui/sign-in" in page.url


@pytest.mark.parametrize(("login", "target", "heading_key"), [
    ("carla#sobria-ethics#staff", "/ui/committee/use-cases", "ui.inventory.title"),
    ("dora#sobria-csr", "/ui/csr", None),
    ("alex#it-admins", "/ui/admin/budgets", "ui.budgets.title"),
])
@pytest.mark.parametrize("locale", ["en-GB", "fr-FR"])
def test_the_providers_groups_give_the_mapped_sobria_roles(browser, gateway, oidc_provider, locale, login, target,
                                                            heading_key):
    context = browser.new_context(locale=locale)
    page = context.new_page()
    try:
        sign_in_at_provider(page, gateway, oidc_provider, target, login, locale)
        page.wait_for_url(f"{gateway.base_url}{target}")
        if heading_key:
            assert page.get_by_role("heading", level=1).inner_text() == translate(heading_key, locale[:2])
        else:
            assert page.get_by_role("button", name=translate("ui.csr.show", locale[:2])).count() == 1
        page.goto(f"{gateway.base_url}/ui/me")  # and still the employee they are
        assert f"{login.split('#')[0]}@example.fr · unknown" in page.locator("form.signout").inner_text()
    finally:
        context.close()


@pytest.mark.parametrize("target", ["/ui/committee/use-cases", "/ui/csr", "/ui/admin/budgets"])
def test_a_group_the_settings_do_not_map_gives_no_role(browser, gateway, oidc_provider, target):
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    try:
        sign_in_at_provider(page, gateway, oidc_provider, target, "eve#staff#sobria-admins-typo", "en-GB")
        page.wait_for_url(f"{gateway.base_url}{target}")
        assert page.get_by_role("heading", level=1).inner_text() == translate("ui.error.title", "en")
        page.goto(f"{gateway.base_url}/ui/me")
        assert page.get_by_role("heading", level=1).inner_text() == "My usage"
    finally:
        context.close()
