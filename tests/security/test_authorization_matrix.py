"""Every operation of the live OpenAPI document x every role: who may call what.

Operations are read from the running gateway's `/openapi.json`, so a new endpoint is in
the matrix the day it is added. Anonymous callers and revoked keys get 401 everywhere
but the public operations; `/admin/*` is for admins only; `/committee/*` for the
committee and admins. Content checks: the committee never sees prompt text nor an
identified employee, and an employee's usage is their own.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.processes import Gateway

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/v1/impacts/methodology")}
ROLES = ("anonymous", "revoked", "employee", "committee", "admin")


def _operations(gateway: Gateway) -> list[tuple[str, str]]:
    document = httpx.get(f"{gateway.base_url}/openapi.json").json()
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item if method != "parameters"]


def _call(gateway: Gateway, method: str, path: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = gateway.base_url + path.replace("{", "").replace("}", "")
    body: dict | None = None if method in ("GET", "DELETE") else {}
    return httpx.request(method, url, headers=headers, json=body, timeout=30)


def _allowed(role: str, method: str, path: str) -> bool:
    if (method, path) in PUBLIC:
        return True
    if role in ("anonymous", "revoked"):
        return False
    if path.startswith("/admin"):
        return role == "admin"
    if path.startswith("/committee"):
        return role in ("committee", "admin")
    return True


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_admits_exactly_the_roles_it_should(secured, role):
    gateway, callers = secured
    wrong = []
    for method, path in _operations(gateway):
        status = _call(gateway, method, path, callers.key(role)).status_code
        if _allowed(role, method, path):
            if status in (401, 403):
                wrong.append(f"{method} {path}: {status}, expected access")
        elif status != (401 if role in ("anonymous", "revoked") else 403):
            wrong.append(f"{method} {path}: {status}, expected refusal")
    assert wrong == []


def test_the_matrix_covers_admin_committee_and_self_service_operations(secured):
    gateway, _ = secured
    paths = {path for _, path in _operations(gateway)}
    assert any(p.startswith("/admin/") for p in paths)
    assert any(p.startswith("/committee/") for p in paths)
    assert "/v1/me/usage" in paths


def test_the_committee_never_sees_prompt_text_nor_an_identified_employee(secured):
    gateway, callers = secured
    marker = f"secret-prompt-{uuid.uuid4().hex}"
    response = httpx.post(
        f"{gateway.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {callers.employee}", "X-Sobria-Use-Case": "translation"},
        json={"model": "auto", "messages": [{"role": "user", "content": marker}]},
        timeout=30,
    )
    assert response.status_code == 200
    time.sleep(0.3)
    me = httpx.get(f"{gateway.base_url}/v1/me/usage", headers={"Authorization": f"Bearer {callers.employee}"}).json()
    identities = {"alice", str(me.get("pseudonym") or "alice")}
    seen = []
    for method, path in _operations(gateway):
        if method == "GET" and path.startswith("/committee") and "{" not in path:
            text = _call(gateway, method, path, callers.committee).text
            seen.append(text)
            assert marker not in text, path
            assert not any(identity in text for identity in identities), path
    assert seen


def test_an_employee_reads_only_their_own_usage(secured):
    gateway, callers = secured
    for key in (callers.employee, callers.other_employee):
        httpx.post(
            f"{gateway.base_url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation"},
            json={"model": "auto", "messages": [{"role": "user", "content": "bonjour"}]},
            timeout=30,
        )
    time.sleep(0.3)

    mine = httpx.get(f"{gateway.base_url}/v1/me/usage", headers={"Authorization": f"Bearer {callers.other_employee}"})

    assert mine.status_code == 200
    assert mine.json()["employee_id"] == "bruno"
    assert "alice" not in mine.text
