"""The Responses, Messages and embeddings APIs go through the same pipeline: one ledger row per answer,
charged what the headers say, and refused by the budget like chat completions."""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import time
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest

from tests.clients.conftest import USE_CASE


def ledger_rows(gateway, request_id: str) -> list[tuple]:
    """The ledger rows of one request, once the writer has flushed them."""
    for _ in range(100):
        with sqlite3.connect(gateway.data_dir / "ledger.db") as db:
            rows = db.execute("SELECT status, http_status, served_model, use_case, cost_micro_eur, stream "
                              "FROM usage_records WHERE request_id = ?", (request_id,)).fetchall()
        if rows:
            return rows
        time.sleep(0.1)
    return []


def cost_micro(headers: httpx.Headers) -> int:
    return int(Decimal(headers["X-Sobria-Cost-EUR"]) * 1_000_000)


@pytest.mark.parametrize("model", ["tool-small", "tool-claude"])
def test_responses_create_is_reserved_settled_and_recorded_once(client_gateway, employee_key, model):
    client = openai.OpenAI(base_url=f"{client_gateway.base_url}/v1", api_key=employee_key, max_retries=0,
                           default_headers=USE_CASE)
    raw = client.responses.with_raw_response.create(model=model, input="Dis bonjour")
    assert raw.parse().output_text
    rows = ledger_rows(client_gateway, raw.headers["X-Request-Id"])
    assert rows == [("ok", 200, model, "general", cost_micro(raw.headers), 0)]
    assert Decimal(raw.headers["X-Sobria-Budget-Remaining-EUR"]) > 0
    with client.responses.with_streaming_response.create(model=model, input="Raconte", stream=True) as streamed:
        events = [line for line in streamed.iter_lines() if line.startswith("event: ")]
        request_id = streamed.headers["X-Request-Id"]
    assert events[-1] == "event: response.completed"
    [(status, http_status, served, _, cost, stream)] = ledger_rows(client_gateway, request_id)
    assert (status, http_status, served, stream) == ("ok", 200, model, 1) and cost > 0


@pytest.mark.parametrize("model", ["tool-small", "tool-claude"])
def test_messages_create_is_reserved_settled_and_recorded_once(client_gateway, employee_key, model):
    claude = anthropic.Anthropic(base_url=client_gateway.base_url, api_key=employee_key, max_retries=0,
                                 default_headers=USE_CASE)
    raw = claude.messages.with_raw_response.create(model=model, max_tokens=100,
                                                   messages=[{"role": "user", "content": "Bonjour"}])
    assert raw.parse().content[0].text
    assert ledger_rows(client_gateway, raw.headers["X-Request-Id"]) == [
        ("ok", 200, model, "general", cost_micro(raw.headers), 0)]
    with claude.messages.with_streaming_response.create(model=model, max_tokens=100, stream=True,
                                                        messages=[{"role": "user", "content": "Bonjour"}]) as streamed:
        events = [line for line in streamed.iter_lines() if line.startswith("event: ")]
        request_id = streamed.headers["X-Request-Id"]
    assert events[-1] == "event: message_stop"
    [(status, http_status, served, _, cost, stream)] = ledger_rows(client_gateway, request_id)
    assert (status, http_status, served, stream) == ("ok", 200, model, 1) and cost > 0


def test_embeddings_are_reserved_settled_and_recorded_once(client_gateway, employee_key):
    client = openai.OpenAI(base_url=f"{client_gateway.base_url}/v1", api_key=employee_key, max_retries=0,
                           default_headers=USE_CASE)
    raw = client.embeddings.with_raw_response.create(model="embed-small", input=["un", "deux", "trois"])
    assert len(raw.parse().data) == 3
    [(status, http_status, served, _, cost, stream)] = ledger_rows(client_gateway, raw.headers["X-Request-Id"])
    assert (status, http_status, served, stream, cost) == ("ok", 200, "embed-small", 0, cost_micro(raw.headers))


def test_an_exhausted_budget_refuses_responses_and_messages_before_the_call(client_gateway, loopback):
    key = client_gateway.create_key("e-broke", "rnd")
    admin = {"Authorization": f"Bearer {client_gateway.admin_key}"}
    scope = "employee:e-broke"
    put = httpx.put(f"{client_gateway.base_url}/admin/budgets/{scope}", headers=admin, json={"eur": "0.000001"})
    assert put.status_code == 200, put.text
    calls_before = len(loopback.received())
    client = openai.OpenAI(base_url=f"{client_gateway.base_url}/v1", api_key=key, max_retries=0,
                           default_headers=USE_CASE)
    claude = anthropic.Anthropic(base_url=client_gateway.base_url, api_key=key, max_retries=0,
                                 default_headers=USE_CASE)
    with pytest.raises(openai.RateLimitError) as responses_refused:
        client.responses.create(model="tool-small", input="Dis bonjour")
    with pytest.raises(anthropic.RateLimitError) as messages_refused:
        claude.messages.create(model="tool-claude", max_tokens=100, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as embeddings_refused:
        client.embeddings.create(model="embed-small", input="x" * 5000)
    assert all("budget" in str(refused.value).lower()
               for refused in (responses_refused, messages_refused, embeddings_refused))
    assert int(messages_refused.value.response.headers["Retry-After"]) > 0
    assert len(loopback.received()) == calls_before  # nothing was forwarded
    pseudonym = hmac.new((client_gateway.data_dir / "pseudonym.key").read_text().strip().encode(),
                         b"e-broke", hashlib.sha256).hexdigest()[:32]
    for _ in range(100):
        with sqlite3.connect(client_gateway.data_dir / "ledger.db") as db:
            rows = db.execute("SELECT status, http_status, cost_micro_eur FROM usage_records"
                              " WHERE employee_pseudonym = ?", (pseudonym,)).fetchall()
        if len(rows) >= 3:
            break
        time.sleep(0.1)
    assert rows == [("budget_exceeded", 429, 0)] * 3
