"""Signing in and out, and the server's enforcement of roles and CSRF."""

from __future__ import annotations

import re

import pytest

from tests.ui.browser import sign_in

pytestmark = pytest.mark.browser


def test_an_unknown_key_is_refused_with_the_reason_next_to_the_field(page, gateway):
    page.goto(f"{gateway.base_url}/ui/sign-in")
    page.get_by_label("Sobria API key").fill("sk-sobria-not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("This key is unknown")
    assert page.get_by_label("Sobria API key").get_attribute("aria-invalid") == "true"


def test_a_page_asks_for_sign_in_then_returns_to_it(page, gateway, keys):
    page.goto(f"{gateway.base_url}/ui/me")
    assert "/ui/sign-in" in page.url
    page.get_by_label("Sobria API key").fill(keys.employee)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{gateway.base_url}/ui/me")
    assert page.get_by_role("heading", level=1).inner_text() == "My usage"


def test_the_session_cookie_is_signed_httponly_and_samesite_strict(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.employee)
    cookie = next(c for c in page.context.cookies() if c["name"] == "sobria_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert keys.employee not in cookie["value"]
    assert page.evaluate("document.cookie") == ""


def test_an_employee_is_refused_committee_and_admin_pages_by_the_server(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.employee)
    for path in ("/ui/committee/use-cases", "/ui/committee/usage.csv", "/ui/admin/keys", "/ui/admin/policy"):
        assert page.goto(f"{gateway.base_url}{path}").status == 403, path
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="API keys").count() == 0


def test_a_form_posted_without_its_csrf_token_is_refused(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.admin)
    response = page.request.post(f"{gateway.base_url}/ui/admin/keys", form={"employee": "mallory", "department": "x", "role_admin": "1"})
    assert response.status == 403
    page.goto(f"{gateway.base_url}/ui/admin/keys")
    assert "mallory" not in page.content()


def test_signing_out_ends_the_session(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.employee)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/ui/sign-in$"))
    page.goto(f"{gateway.base_url}/ui/me")
    assert "/ui/sign-in" in page.url
