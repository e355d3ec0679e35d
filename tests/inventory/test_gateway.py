"""At the gateway: a suspension reaches every replica within seconds; roles see only what they may."""

from __future__ import annotations

from collections.abc import Iterator
import sqlite3
import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.processes import Gateway, catalogue_for, start_gateway, start_mock_upstream, stop

PROMPT = "Traduis en anglais : le rapport confidentiel de Jeanne."


@pytest.fixture(scope="module")
def upstream():
    mock = start_mock_upstream("--output-tokens", "8")
    yield mock
    stop(mock.process)


@pytest.fixture(scope="module")
def gateway(upstream, tmp_path_factory) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path_factory.mktemp("inventory-gw"), catalogue_for(upstream.base_url))
    yield gw
    stop(gw.process)


@pytest.fixture(scope="module")
def committee_key(gateway: Gateway) -> str:
    return gateway.create_key("chair", "ethics", "committee")


@pytest.fixture(scope="module")
def employee_key(gateway: Gateway) -> str:
    return gateway.create_key("paul", "hr")


def chat(gw: Gateway, key: str, use_case: str = "translation") -> httpx.Response:
    return httpx.post(f"{gw.base_url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}",
                      "X-Sobria-Use-Case": use_case},
                      json={"model": "auto", "messages": [{"role": "user", "content": PROMPT}]}, timeout=30)


def call(gw: Gateway, key: str, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{gw.base_url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                         **kwargs)


def test_a_suspension_on_one_replica_refuses_requests_on_another_within_seconds(tmp_path, upstream, postgres_database):
    env = {"SOBRIA_DATABASE_URL": postgres_database, "SOBRIA_PSEUDONYM_KEY": "replicas-share-this"}
    first = start_gateway(tmp_path / "a", catalogue_for(upstream.base_url), env)
    second = start_gateway(tmp_path / "b", catalogue_for(upstream.base_url), env)
    try:
        chair, employee = first.create_key("chair", "ethics", "committee"), first.create_key("emma", "finance")
        assert chat(second, employee).status_code == 200
        suspended = call(first, chair, "POST", "/committee/use-cases/translation/transition",
                         json={"status": "suspended", "decision": "personal data found in prompts"})
        assert suspended.status_code == 200, suspended.text
        started = time.monotonic()
        while (refused := chat(second, employee)).status_code == 200 and time.monotonic() - started < 5:
            time.sleep(0.2)
        assert refused.status_code == 403 and time.monotonic() - started < 3
        error = refused.json()["error"]
        assert error["code"] == "use_case_suspended" and "personal data found in prompts" in error["message"]
    finally:
        stop(second.process)
        stop(first.process)


def test_an_employee_cannot_read_the_register(gateway, employee_key):
    refused = call(gateway, employee_key, "GET", "/committee/use-cases")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden_role"


def test_the_committee_sees_the_seeded_register(gateway, committee_key):
    listed = call(gateway, committee_key, "GET", "/committee/use-cases").json()
    states = {uc["id"]: (uc["lifecycle"]["status"], uc["lifecycle"]["provisional"]) for uc in listed["use_cases"]}
    assert states["translation"] == ("draft", True) and states["general"] == ("draft", True)


def test_the_committee_gets_no_prompt_text_and_no_single_employee(gateway, committee_key, employee_key):
    assert chat(gateway, employee_key).status_code == 200
    time.sleep(0.3)
    month = datetime.now(UTC).strftime("%Y-%m")
    body = call(gateway, committee_key, "GET", "/committee/usage",
                params={"month": month, "group_by": ["use_case", "department"]})
    assert body.status_code == 200
    text = body.text
    assert "Jeanne" not in text and "paul" not in text and "pseudonym" not in text
    assert all(g["distinct_users"] >= body.json()["k"] for g in body.json()["months"][0]["groups"])
    assert body.json()["months"][0]["total"] is None


def test_the_committee_cannot_link_a_pseudonym(gateway, committee_key):
    refused = call(gateway, committee_key, "POST", "/admin/pseudonyms",
                   json={"employee_id": "paul", "reason": "curiosity"})
    assert refused.status_code == 403


def test_the_ledger_holds_a_keyed_pseudonym_that_only_an_audited_admin_can_link(gateway, employee_key):
    assert chat(gateway, employee_key).status_code == 200
    time.sleep(0.3)
    with sqlite3.connect(gateway.data_dir / "ledger.db") as db:
        pseudonyms = {row[0] for row in db.execute("SELECT employee_pseudonym FROM usage_records WHERE department='hr'")}
    assert "paul" not in pseudonyms
    linked = call(gateway, gateway.admin_key, "POST", "/admin/pseudonyms",
                  json={"employee_id": "paul", "reason": "subject access request #12"})
    assert linked.json()["pseudonym"] in pseudonyms
    verify = gateway.cli("audit", "verify")
    assert verify.returncode == 0 and "intact" in verify.stdout
    with sqlite3.connect(gateway.data_dir / "ledger.db") as db:
        actions = [row[0] for row in db.execute("SELECT action FROM audit_log")]
    assert "pseudonym.link" in actions and "use_case.seed" in actions


def test_sobria_report_writes_markdown_and_csv(gateway, tmp_path):
    month = datetime.now(UTC).strftime("%Y-%m")
    done = gateway.cli("report", "--month", month, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / f"sobria-report-{month}.md").read_text().startswith("# Sobria CSR report")
    assert (tmp_path / f"sobria-report-{month}.csv").exists()


def test_a_suspended_use_case_goes_to_general_when_the_policy_says_so(tmp_path, upstream):
    import yaml

    from tests.processes import TEST_FALLBACKS, policy_for

    policy = yaml.safe_load(policy_for(TEST_FALLBACKS))
    policy["defaults"]["blocked_use_case"] = "general"
    gw = start_gateway(tmp_path, catalogue_for(upstream.base_url), policy_yaml=yaml.safe_dump(policy, allow_unicode=True))
    try:
        chair, employee = gw.create_key("chair", "ethics", "committee"), gw.create_key("ines", "hr")
        suspended = call(gw, chair, "POST", "/committee/use-cases/translation/transition",
                         json={"status": "suspended", "decision": "under review after a complaint"})
        assert suspended.status_code == 200, suspended.text
        answered = chat(gw, employee, "translation")
        assert answered.status_code == 200
        assert answered.headers["X-Sobria-Use-Case"] == "general"
        assert answered.headers["X-Sobria-Rule"] == "blocked-use-case-general"
        assert "translation" in answered.json()["usage"]["sobria"]["reason"]
    finally:
        stop(gw.process)
