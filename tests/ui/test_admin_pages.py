"""The admin's pages: catalogue, budgets, keys, policy editor with dry run, audit log."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.ui.browser import sign_in, ui_key

pytestmark = pytest.mark.browser


def test_the_catalogue_lists_every_model_with_its_prices(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.admin, "/ui/admin/models")
    table = page.get_by_role("table", name="4 models")
    assert table.get_by_role("rowheader", name="test-small").count() == 1


def test_a_new_key_is_shown_once_and_can_be_revoked(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.admin, "/ui/admin/keys")
    page.get_by_label("Employee id").fill("dora")
    page.get_by_label("Department").fill("hr")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text()
    assert key.startswith("sk-sobria-")
    caption = page.get_by_role("table").locator("caption").inner_text()
    page.reload()  # post/redirect/get: a reload shows the page again and creates nothing
    assert key not in page.content() and page.get_by_role("status").inner_text().startswith("The new key was shown once")
    assert page.get_by_role("table").locator("caption").inner_text() == caption
    page.goto(f"{gateway.base_url}/ui/admin/keys")
    assert key not in page.content()
    key_id = key.removeprefix("sk-sobria-")[:8]
    page.get_by_role("link", name=re.compile(f"Revoke key {re.escape(key_id)}")).click()
    assert page.get_by_role("heading", name="Revoke a key").count() == 1  # asked first
    assert httpx.get(f"{gateway.base_url}/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    page.get_by_role("button", name="Revoke this key").click()
    page.wait_for_load_state()
    assert page.get_by_role("row", name=re.compile(re.escape(key_id))).get_by_text("Revoked").count() == 1
    refused = httpx.get(f"{gateway.base_url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401


def test_a_budget_override_shows_with_its_consumption(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.admin, "/ui/admin/budgets")
    page.get_by_label("Scope").fill("department:finance")
    page.get_by_label("Limit in euros").fill("120")
    page.get_by_role("button", name="Save override").click()
    row = page.get_by_role("row", name=re.compile("department:finance"))
    assert "€120.00" in row.inner_text() and "Override" in row.inner_text()


def test_an_invalid_policy_shows_its_errors_inline_with_line_numbers(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.admin, "/ui/admin/policy")
    editor = page.get_by_label("Policy (YAML)")
    editor.fill(editor.input_value().replace("tier: medium", "tier: enormous", 1))
    page.get_by_role("button", name="Dry run").click()
    alert = page.get_by_role("alert")
    assert "nothing was published" in alert.inner_text() and re.search(r"Line \d+", alert.inner_text())
    assert page.get_by_label("Policy (YAML)").get_attribute("aria-invalid") == "true"


def test_a_dry_run_shows_the_replay_summary_before_publishing(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.admin, "/ui/admin/policy")
    before = page.locator("main > p").first.inner_text()
    editor = page.get_by_label("Policy (YAML)")
    text = editor.input_value()
    editor.fill(re.sub(r"(- id: translation\n(?:.*\n)*?\s+tier:) small", r"\1 medium", text, count=1))
    page.get_by_role("button", name="Dry run").click()
    replay = page.get_by_role("table", name=re.compile("Projected effect"))
    total = replay.get_by_role("row", name=re.compile("^Total"))
    assert int(total.locator("td").nth(1).inner_text()) >= 6
    assert page.locator("main > p").first.inner_text() == before


def test_the_audit_log_shows_admin_changes_and_an_intact_chain(page, gateway, keys):
    sign_in(page, gateway.base_url, keys.admin, "/ui/admin/audit")
    assert page.get_by_role("status").inner_text().startswith("The hash chain is intact")
    assert page.get_by_role("table").get_by_text("key.create").count() >= 1


def test_revoking_ones_own_key_is_asked_with_a_warning(page, gateway, keys):
    own = ui_key(gateway.base_url, gateway.admin_key, "ada", "it", "admin")
    sign_in(page, gateway.base_url, own, "/ui/admin/keys")
    key_id = own.removeprefix("sk-sobria-")[:8]
    page.get_by_role("link", name=re.compile(f"Revoke key {re.escape(key_id)}")).click()
    assert page.get_by_role("alert").inner_text().startswith("This is the key you are signed in with")
    page.get_by_role("button", name="Revoke this key").click()
    page.wait_for_url(re.compile(r"/ui/sign-in"))
    assert httpx.get(f"{gateway.base_url}/v1/models", headers={"Authorization": f"Bearer {own}"}).status_code == 401
