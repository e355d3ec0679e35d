"""Budgets seen from the HTTP side: 429 with Retry-After, remaining headers, /v1/me/usage."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import httpx
import pytest

from tests.processes import catalogue_for, start_gateway, start_mock_upstream, stop


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    upstream = start_mock_upstream("--output-tokens", "20")
    # test-small: 0.10 EUR/Mtok in, 0.30 out, max_output_tokens 256: a tiny prompt reserves
    # about 0.000078 EUR and settles about 0.000007, so 0.0002 EUR admits a few dozen.
    gw = start_gateway(
        tmp_path_factory.mktemp("budget"),
        catalogue_for(upstream.base_url),
        {"SOBRIA_BUDGETS__EMPLOYEE__EUR": "0.0002", "SOBRIA_BUDGETS__EMPLOYEE__GCO2E_G": "1000"},
    )
    yield gw
    stop(gw.process)
    stop(upstream.process)


def ask(gateway, key: str, **extra) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation"},
        json={"model": "auto", "messages": [{"role": "user", "content": "Bonjour"}], **extra},
        timeout=30,
    )


def test_employee_over_budget_gets_429_budget_exceeded_with_retry_after(gateway):
    key = gateway.create_key("carol", "sales")
    spent = 0.0
    for _ in range(40):
        refused = ask(gateway, key)
        if refused.status_code != 200:
            break
        spent += float(refused.headers["X-Sobria-Cost-EUR"])
    assert refused.status_code == 429
    assert 0 < spent <= 0.0002
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded" and error["type"] == "rate_limit_error"
    assert "your budget (EUR)" in error["message"] and "carol" not in error["message"]
    assert int(refused.headers["Retry-After"]) > 0


def test_the_french_429_says_the_wait_and_the_amounts_as_a_french_reader_writes_them(gateway):
    key = gateway.create_key("chloe", "sales")
    while (refused := ask(gateway, key)).status_code == 200:
        pass
    french = httpx.post(
        f"{gateway.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation", "Accept-Language": "fr-FR"},
        json={"model": "auto", "messages": [{"role": "user", "content": "Bonjour"}]}, timeout=30,
    )
    assert refused.status_code == french.status_code == 429
    wait = int(french.headers["Retry-After"])
    message = french.json()["error"]["message"]
    assert message.startswith("Budget dépassé") and f"{wait} s" not in message
    assert re.search(r"Réessayez dans \d+\u00a0(?:s|min|h|jours?)\.$", message), message
    assert re.search(r"il reste \d+(?:,\d+)? sur votre budget \(EUR\)", message) and not re.search(r"\d\.\d", message), message
    assert "employee" not in message


def test_remaining_budget_header_decreases_with_spending(gateway):
    key = gateway.create_key("dan", "sales")
    first = ask(gateway, key)
    assert first.status_code == 200
    remaining = Decimal(first.headers["X-Sobria-Budget-Remaining-EUR"])
    assert remaining == Decimal("0.000200") - Decimal(first.headers["X-Sobria-Cost-EUR"])
    carbon_after_first = Decimal(first.headers["X-Sobria-Carbon-Budget-Remaining-g"])
    assert carbon_after_first < Decimal(1000)
    second = ask(gateway, key)
    assert Decimal(second.headers["X-Sobria-Carbon-Budget-Remaining-g"]) < carbon_after_first


def test_me_usage_shows_own_spending_and_budgets(gateway):
    key = gateway.create_key("erin", "legal")
    ask(gateway, key)
    time.sleep(0.3)
    usage = httpx.get(f"{gateway.base_url}/v1/me/usage", headers={"Authorization": f"Bearer {key}"}).json()
    assert usage["employee_id"] == "erin"
    assert usage["totals"]["requests"] == 1
    assert float(usage["totals"]["cost_eur"]) > 0
    assert usage["last_requests"][0]["use_case"] == "translation"
    scopes = {(b["scope"], b["unit"]) for b in usage["budgets"]}
    assert ("employee", "EUR") in scopes and ("employee", "gCO2e") in scopes


def test_me_usage_never_shows_another_employees_requests(gateway):
    frank = gateway.create_key("frank", "legal")
    grace = gateway.create_key("grace", "legal")
    ask(gateway, frank)
    time.sleep(0.3)
    usage = httpx.get(f"{gateway.base_url}/v1/me/usage", headers={"Authorization": f"Bearer {grace}"}).json()
    assert usage["totals"]["requests"] == 0 and usage["last_requests"] == []
