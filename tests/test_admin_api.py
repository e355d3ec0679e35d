"""Admin API: budget overrides and keys, admin-only, every change in the audit log."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from tests.processes import catalogue_for, start_gateway, start_mock_upstream, stop


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    upstream = start_mock_upstream("--output-tokens", "20")
    gw = start_gateway(tmp_path_factory.mktemp("admin"), catalogue_for(upstream.base_url))
    yield gw
    stop(gw.process)
    stop(upstream.process)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def audit_actions(gateway) -> list[tuple[str, str]]:
    connection = sqlite3.connect(gateway.data_dir / "ledger.db")
    try:
        return [(r[0], r[1]) for r in connection.execute("SELECT action, target FROM audit_log ORDER BY id")]
    finally:
        connection.close()


def chat(gateway, key: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/v1/chat/completions", headers={**auth(key), "X-Sobria-Use-Case": "translation"},
        json={"model": "auto", "messages": [{"role": "user", "content": "Bonjour"}]}, timeout=30,
    )


def test_an_employee_cannot_use_the_admin_api(gateway):
    key = gateway.create_key("lea", "hr")
    for method, path in [("GET", "/admin/budgets"), ("GET", "/admin/keys"), ("POST", "/admin/keys"),
                         ("PUT", "/admin/budgets/org"), ("GET", "/admin/models")]:
        response = httpx.request(method, f"{gateway.base_url}{path}", headers=auth(key), json={})
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "forbidden_role"


def test_admin_budget_override_applies_at_once_and_is_audited(gateway):
    key = gateway.create_key("mia", "hr")
    assert chat(gateway, key).status_code == 200
    put = httpx.put(f"{gateway.base_url}/admin/budgets/employee:mia", headers=auth(gateway.admin_key),
                    json={"eur": "0.000001"})
    assert put.status_code == 200
    pseudonym_scope = put.json()["scope"]
    assert pseudonym_scope.startswith("employee:") and "mia" not in pseudonym_scope
    refused = chat(gateway, key)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
    assert ("budget.set", pseudonym_scope) in audit_actions(gateway)
    listed = httpx.get(f"{gateway.base_url}/admin/budgets", headers=auth(gateway.admin_key)).json()
    assert any(o["scope"] == pseudonym_scope and o["status"] for o in listed["overrides"])
    removed = httpx.delete(f"{gateway.base_url}/admin/budgets/employee:mia", headers=auth(gateway.admin_key))
    assert removed.status_code == 200
    assert chat(gateway, key).status_code == 200


def test_invalid_budget_scope_is_a_400(gateway):
    response = httpx.put(f"{gateway.base_url}/admin/budgets/planet:earth", headers=auth(gateway.admin_key),
                         json={"eur": "5"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "scope"


def test_admin_creates_a_key_shown_once_and_revokes_it(gateway):
    created = httpx.post(f"{gateway.base_url}/admin/keys", headers=auth(gateway.admin_key),
                         json={"employee_id": "noah", "department": "it"})
    assert created.status_code == 201
    key, key_id = created.json()["key"], created.json()["key_id"]
    assert chat(gateway, key).status_code == 200
    listed = httpx.get(f"{gateway.base_url}/admin/keys", headers=auth(gateway.admin_key)).json()["data"]
    assert all("key" not in k for k in listed) and any(k["key_id"] == key_id for k in listed)
    revoked = httpx.delete(f"{gateway.base_url}/admin/keys/{key_id}", headers=auth(gateway.admin_key))
    assert revoked.status_code == 200
    import time

    time.sleep(1.0)
    assert chat(gateway, key).status_code == 401
    actions = audit_actions(gateway)
    assert ("key.create", f"key:{key_id}") in actions and ("key.revoke", f"key:{key_id}") in actions


def test_admin_sees_the_catalogue_with_what_each_model_really_is(gateway):
    models = httpx.get(f"{gateway.base_url}/admin/models", headers=auth(gateway.admin_key)).json()["data"]
    by_name = {m["name"]: m for m in models}
    assert by_name["demo-small"]["mode"] == "demo" and by_name["test-small"]["mode"] == "local"
    assert by_name["test-small"]["price_eur_per_mtok"] == {"input": "0.10", "output": "0.30"}
