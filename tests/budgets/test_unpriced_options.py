"""Options a provider bills above the catalogue's token prices are refused before the call.

"Whatever the gateway forwards, it has reserved for": a priority service tier, web search
and audio output cost more than the tokens the reservation prices, so a request asking for
one is a 400 naming the option, in the reader's language, with nothing sent upstream,
nothing charged and no budget left held; the default and cheaper tiers go through.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import httpx
import pytest

from gateway.request.tokens import unpriced_option
from tests.processes import Gateway, MockUpstream, catalogue_for, start_gateway, start_mock_upstream, stop

HELLO = [{"role": "user", "content": "Bonjour"}]


@pytest.mark.parametrize(("params", "option"), [
    ({"service_tier": "priority"}, "service_tier"),
    ({"service_tier": "scale"}, "service_tier"),
    ({"web_search_options": {}}, "web_search_options"),
    ({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    ({"service_tier": "auto"}, None),
    ({"service_tier": "default"}, None),
    ({"service_tier": "flex"}, None),
    ({"service_tier": None, "web_search_options": None, "modalities": ["text"]}, None),
])
def test_which_options_are_beyond_the_catalogue_prices(params, option):
    assert unpriced_option(params) == option


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[tuple[Gateway, MockUpstream, str]]:
    upstream = start_mock_upstream("--output-tokens", "5")
    started = start_gateway(tmp_path_factory.mktemp("unpriced"), catalogue_for(upstream.base_url))
    try:
        yield started, upstream, started.create_key("ines", "legal")
    finally:
        stop(started.process)
        stop(upstream.process)


def chat(gateway: Gateway, key: str, language: str = "en-GB", **params) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/v1/chat/completions", timeout=30,
                      json={"model": "test-small", "messages": HELLO, **params},
                      headers={"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation",
                               "Accept-Language": language})


def refused_rows(gateway: Gateway) -> list[tuple[int, int]]:
    """(http_status, cost_micro_eur) of every ledger row of a 400, oldest first."""
    connection = sqlite3.connect(gateway.data_dir / "ledger.db")
    try:
        return connection.execute(
            "SELECT http_status, cost_micro_eur FROM usage_records WHERE http_status = 400 ORDER BY id").fetchall()
    finally:
        connection.close()


def refused_after(gateway: Gateway, known: int) -> list[tuple[int, int]]:
    """The 400 rows written after the first `known`, once there is one."""
    deadline = time.monotonic() + 15
    while len(rows := refused_rows(gateway)) <= known and time.monotonic() < deadline:
        time.sleep(0.1)
    return rows[known:]


@pytest.mark.parametrize(("params", "option"), [
    ({"service_tier": "priority"}, "service_tier"),
    ({"web_search_options": {"search_context_size": "high"}}, "web_search_options"),
    ({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}, "audio"),
])
def test_an_unpriced_option_is_refused_before_the_call_and_charges_nothing(gateway, params, option):
    started, upstream, key = gateway
    calls_before, refused_before = sum(upstream.stats().values()), len(refused_rows(started))
    refused = chat(started, key, **params)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["param"], error["type"]) == ("unpriced_option", option, "invalid_request_error")
    assert option in error["message"] and "administrator" in error["message"]
    assert sum(upstream.stats().values()) == calls_before
    assert refused_after(started, refused_before) == [(400, 0)]
    served = chat(started, key)  # nothing of the refused request is left held
    assert served.status_code == 200, served.text


def test_the_refusal_is_said_in_french_to_a_french_reader(gateway):
    started, _, key = gateway
    refused = chat(started, key, "fr-FR,fr;q=0.9", service_tier="priority")
    assert refused.status_code == 400
    message = refused.json()["error"]["message"]
    assert "service_tier" in message and "administrateur" in message and "billed" not in message


def test_the_default_tier_goes_through(gateway):
    started, _, key = gateway
    assert chat(started, key, service_tier="auto").status_code == 200
