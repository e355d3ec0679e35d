"""Every admin action behaves the same from the JSON API, the pages and the CLI.

One real gateway process; the pages are driven over HTTP with a signed-in session and
its CSRF token, the CLI as an operator runs it. Each test pins a former divergence:
the same audit action name and target format whichever door, the employee scope
pseudonymised at every door, out-of-range input a clear error at every door.
"""

from __future__ import annotations

import json
import re
import sqlite3

import httpx
import pytest

from tests.services.conftest import relay_only_catalogue, relay_only_policy
from tests.processes import start_gateway, start_mock_upstream, stop

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    upstream = start_mock_upstream("--output-tokens", "20")
    gw = start_gateway(tmp_path_factory.mktemp("doors"), relay_only_catalogue(upstream.base_url),
                       policy_yaml=relay_only_policy())
    yield gw
    stop(gw.process)
    stop(upstream.process)


class Pages:
    """A browser-like client of the admin pages: session cookie and CSRF token."""

    def __init__(self, base_url: str, key: str):
        self.client = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)
        page = self.client.get("/ui/sign-in")
        signed_in = self.client.post("/ui/sign-in", data={"csrf": self.csrf(page.text), "key": key, "next": "/ui/admin/keys"})
        assert signed_in.status_code == 303, signed_in.text

    @staticmethod
    def csrf(html: str) -> str:
        found = CSRF.search(html)
        assert found, "no CSRF token on the page"
        return found.group(1)

    def post(self, path: str, **fields: str) -> httpx.Response:
        token = self.csrf(self.client.get(path if "/revoke" not in path else "/ui/admin/keys").text)
        return self.client.post(path, data={"csrf": token, **fields})


def api(gateway) -> httpx.Client:
    return httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {gateway.admin_key}"}, timeout=30)


def audit_rows(gateway) -> list[tuple[str, str, str, str | None]]:
    connection = sqlite3.connect(gateway.data_dir / "ledger.db")
    try:
        return [tuple(r) for r in connection.execute("SELECT actor, action, target, after FROM audit_log ORDER BY id")]
    finally:
        connection.close()


def new_rows(gateway, before: int) -> list[tuple[str, str, str, str | None]]:
    return audit_rows(gateway)[before:]


def chat(gateway, key: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation"},
        json={"model": "auto", "messages": [{"role": "user", "content": "Bonjour"}]}, timeout=30,
    )


@pytest.fixture(scope="module")
def pages(gateway) -> Pages:
    return Pages(gateway.base_url, gateway.admin_key)


def test_a_budget_override_has_one_action_name_and_one_target_from_every_door(gateway, pages):
    start = len(audit_rows(gateway))
    assert api(gateway).put("/admin/budgets/department:legal", json={"eur": "12.5"}).status_code == 200
    assert pages.post("/ui/admin/budgets", scope="department:legal", eur="12,5", gco2e_g="").status_code == 303
    done = gateway.cli("budgets", "set", "department:legal", "--eur", "12.5")
    assert done.returncode == 0, done.stderr
    rows = new_rows(gateway, start)
    assert [(action, target) for _, action, target, _ in rows] == [("budget.set", "department:legal")] * 3
    assert len({after for *_, after in rows}) == 1


def test_an_employee_override_from_the_pages_is_pseudonymised_and_applies(gateway, pages):
    key = gateway.create_key("mia", "hr")
    assert chat(gateway, key).status_code == 200
    start = len(audit_rows(gateway))
    assert pages.post("/ui/admin/budgets", scope="employee:mia", eur="0.000001", gco2e_g="").status_code == 303
    refused = chat(gateway, key)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
    [(_, action, target, after)] = new_rows(gateway, start)
    assert action == "budget.set" and target.startswith("employee:") and "mia" not in target
    from_api = api(gateway).put("/admin/budgets/employee:mia", json={"eur": "0.000001"}).json()
    assert from_api["scope"] == target
    assert not any("mia" in (row[2] + (row[3] or "")) for row in audit_rows(gateway) if row[1].startswith("budget."))
    assert pages.post("/ui/admin/budgets", scope="employee:mia", action="remove").status_code == 303
    assert chat(gateway, key).status_code == 200


OUT_OF_RANGE = ["1e400", "-1", "NaN", "Infinity", "douze", "0.0000001", "9" * 30]


def test_an_amount_out_of_range_is_a_clear_error_at_every_door(gateway, pages):
    start = len(audit_rows(gateway))
    for amount in OUT_OF_RANGE:
        page = pages.post("/ui/admin/budgets", scope="department:finance", eur=amount, gco2e_g="")
        assert page.status_code == 422 and 'role="alert"' in page.text, amount
        response = api(gateway).put("/admin/budgets/department:finance", json={"eur": amount})
        assert response.status_code == 400 and response.json()["error"]["param"] in {"eur", "rule", "eur.eur"}, amount
    for amount in ("1e400", "-1"):
        done = gateway.cli("budgets", "set", "department:finance", "--eur", amount)
        assert done.returncode == 2 and "eur" in done.stderr and "Traceback" not in done.stderr
    assert new_rows(gateway, start) == []


def test_key_actions_have_one_target_format_and_one_record_from_every_door(gateway, pages):
    start = len(audit_rows(gateway))
    from_api = api(gateway).post("/admin/keys", json={"employee_id": "ines", "department": "it", "name": "ines"})
    from_page = pages.post("/ui/admin/keys", employee="ines", department="it", name="ines", role_employee="1")
    from_cli = gateway.cli("keys", "create", "--employee", "ines", "--department", "it", "--name", "ines")
    assert from_api.status_code == 201 and from_page.status_code == 303 and from_cli.returncode == 0  # post/redirect/get
    ids = [from_api.json()["key_id"], re.search(r"key id: (\S+)", from_cli.stdout).group(1)]
    listed = {k["key_id"] for k in api(gateway).get("/admin/keys").json()["data"] if k["employee_id"] == "ines"}
    page_id = (listed - set(ids)).pop()
    created = new_rows(gateway, start)
    assert [(a, t) for _, a, t, _ in created] == [("key.create", f"key:{i}") for i in (ids[0], page_id, ids[1])]
    assert len({json.dumps(json.loads(after), sort_keys=True) for *_, after in created}) == 1

    start = len(audit_rows(gateway))
    assert api(gateway).delete(f"/admin/keys/{ids[0]}").status_code == 200
    assert pages.post(f"/ui/admin/keys/{page_id}/revoke").status_code == 303
    assert gateway.cli("keys", "revoke", ids[1]).returncode == 0
    assert [(a, t) for _, a, t, _ in new_rows(gateway, start)] == [("key.revoke", f"key:{i}") for i in (ids[0], page_id, ids[1])]


def test_revoking_from_the_pages_asks_first(gateway, pages):
    key_id = api(gateway).post("/admin/keys", json={"employee_id": "jade", "department": "it"}).json()["key_id"]
    listing = pages.client.get("/ui/admin/keys").text
    assert f'href="/ui/admin/keys/{key_id}/revoke"' in listing and f'action="/ui/admin/keys/{key_id}/revoke"' not in listing
    confirm = pages.client.get(f"/ui/admin/keys/{key_id}/revoke")
    assert confirm.status_code == 200 and key_id in confirm.text and "jade" in confirm.text
    still = {k["key_id"]: k["revoked_at"] for k in api(gateway).get("/admin/keys").json()["data"]}
    assert still[key_id] is None
    assert pages.post(f"/ui/admin/keys/{key_id}/revoke").status_code == 303
    assert pages.client.get(f"/ui/admin/keys/{key_id}/revoke").status_code == 404


def test_a_bad_key_request_is_a_clear_error_at_every_door(gateway, pages):
    start = len(audit_rows(gateway))
    page = pages.post("/ui/admin/keys", employee="kim", department="", name="")
    assert page.status_code == 422 and 'role="alert"' in page.text
    response = api(gateway).post("/admin/keys", json={"employee_id": "kim", "department": "it", "roles": ["root"]})
    assert response.status_code == 400 and response.json()["error"]["param"] == "roles"
    done = gateway.cli("keys", "create", "--employee", "kim", "--department", "it", "--role", "root")
    assert done.returncode == 2 and "roles" in done.stderr
    assert new_rows(gateway, start) == []


def test_a_policy_is_published_from_the_pages_only_after_a_dry_run_of_that_text(gateway, pages):
    current = api(gateway).get("/admin/policy").json()
    text = current["text"].replace(f"version_label: {current['version_label']}", "version_label: via-the-pages", 1)
    assert text != current["text"]
    unchecked = pages.post("/ui/admin/policy", text=text, action="publish")
    assert unchecked.status_code == 200 and 'name="dry_run_of"' in unchecked.text
    assert api(gateway).get("/admin/policy").json()["version"] == current["version"]
    token = pages.csrf(unchecked.text)
    dry_run_of = re.search(r'name="dry_run_of" value="([^"]+)"', unchecked.text).group(1)
    published = pages.client.post("/ui/admin/policy", data={"csrf": token, "text": text, "action": "publish",
                                                            "dry_run_of": dry_run_of})
    assert published.status_code == 303 and published.headers["location"].startswith("/ui/admin/policy?published=")
    assert api(gateway).get("/admin/policy").json()["version_label"] == "via-the-pages"
    actions = [a for _, a, t, _ in audit_rows(gateway) if t == "policy"]
    assert actions[-2:] == ["policy.dry_run", "policy.update"]


def test_a_revoked_keys_page_session_ends(gateway):
    key = api(gateway).post("/admin/keys", json={"employee_id": "lou", "department": "it", "roles": ["admin"]}).json()
    session = Pages(gateway.base_url, key["key"])
    assert session.client.get("/ui/admin/keys").status_code == 200
    assert api(gateway).delete(f"/admin/keys/{key['key_id']}").status_code == 200
    page = session.client.get("/ui/admin/keys")
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/sign-in")


def test_a_pseudonym_link_has_one_action_name_and_one_target_from_every_door(gateway):
    start = len(audit_rows(gateway))
    answer = api(gateway).post("/admin/pseudonyms", json={"employee_id": "noa", "reason": "GDPR access request 42"})
    done = gateway.cli("pseudonyms", "link", "noa", "--reason", "GDPR access request 42")
    assert answer.status_code == 200 and done.returncode == 0, done.stderr
    pseudonym = answer.json()["pseudonym"]
    assert done.stdout.strip() == pseudonym
    rows = new_rows(gateway, start)
    assert [(action, target) for _, action, target, _ in rows] == [("pseudonym.link", f"employee:{pseudonym}")] * 2
    assert [json.loads(after) for *_, after in rows] == [{"reason": "GDPR access request 42"}] * 2
    assert not any("noa" in target + (after or "") for _, _, target, after in rows)


def test_a_pseudonym_link_without_a_reason_is_a_clear_error_at_every_door(gateway):
    start = len(audit_rows(gateway))
    done = gateway.cli("pseudonyms", "link", "noa", "--reason", "  ")
    assert done.returncode == 2 and "reason" in done.stderr and "Traceback" not in done.stderr
    response = api(gateway).post("/admin/pseudonyms", json={"employee_id": "noa", "reason": "no"})
    assert response.status_code == 400
    assert new_rows(gateway, start) == []


def test_a_deleted_tail_is_caught_by_the_cli_and_the_audit_page_with_the_checkpoints(gateway, pages):
    """Last in this module: it tampers with the gateway's audit log."""
    written = gateway.cli("audit", "checkpoint")
    assert written.returncode == 0, written.stderr
    connection = sqlite3.connect(gateway.data_dir / "ledger.db")
    try:
        connection.execute("DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log ORDER BY id DESC LIMIT 3)")
        connection.commit()
    finally:
        connection.close()
    assert gateway.cli("audit", "verify").returncode == 0  # the chain alone cannot see it
    caught = gateway.cli("audit", "verify", "--checkpoint", "default")
    assert caught.returncode == 1 and "tail" in caught.stderr
    page = pages.client.get("/ui/admin/audit")
    assert page.status_code == 200 and 'class="error"' in page.text
