"""Provider faults, end to end: a real gateway, a real misbehaving upstream, the ledger.

Each fault ends in the contract's outcome: the fallback deployment when one is
configured, else a 502/504 in OpenAI's shape; the budget reservation released (or
settled on what was generated, for a stream cut mid-way); one ledger row per request.
"""

from __future__ import annotations

from collections.abc import Iterator
import sqlite3

import httpx
import pytest

from tests.conftest import free_port
from tests.processes import Gateway, catalogue_for, policy_for, start_gateway, start_mock_upstream, stop

USE_CASE = {"X-Sobria-Use-Case": "translation"}


def _model(name: str, upstream_model: str, base_url: str) -> str:
    return f"""
  - name: {name}
    tier: small
    litellm_params: {{model: openai/{upstream_model}, api_base: "{base_url}", api_key: mock}}
    price_eur_per_mtok: {{input: "1000", output: "4000"}}
    max_output_tokens: 256
    impact: {{provider: mistralai, ecologits_provider: mistralai, ecologits_model: mistral-small-latest, zone: FRA}}
"""


@pytest.fixture(scope="module")
def upstream():
    mock = start_mock_upstream("--output-tokens", "40", "--slow-ms", "4000")
    yield mock
    stop(mock.process)


@pytest.fixture(scope="module")
def gateway(upstream, tmp_path_factory) -> Iterator[Gateway]:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    extra = "".join(
        [
            _model("fault-500", "fail-500", upstream.base_url),
            _model("fault-500-with-fallback", "fail-500-b", upstream.base_url),
            _model("fault-refused", "refused", closed),
            _model("fault-slow", "slow", upstream.base_url),
            _model("fault-cut", "cut", upstream.base_url),
            _model("fault-garbage", "garbage", upstream.base_url),
        ]
    )
    extra += "fallbacks:\n  fault-500-with-fallback: [test-small]\n"
    env = {"SOBRIA_UPSTREAM_TIMEOUT_S": "1", "SOBRIA_UPSTREAM_RETRIES": "0"}
    # No policy fallback chain: the only fallback is the catalogue's, named per deployment above.
    gw = start_gateway(tmp_path_factory.mktemp("faults"), catalogue_for(upstream.base_url, extra), env, policy_for({}))
    yield gw
    stop(gw.process)


@pytest.fixture(scope="module")
def key(gateway: Gateway) -> str:
    return gateway.create_key("fanny", "legal")


def _chat(gateway: Gateway, key: str, model: str, stream: bool = False) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}", **USE_CASE},
        json={"model": model, "stream": stream, "messages": [{"role": "user", "content": "Traduis: bonjour"}]},
        timeout=30,
    )


def _rows(gateway: Gateway, model: str) -> list[tuple]:
    import time

    deadline = time.monotonic() + 5
    while True:
        connection = sqlite3.connect(gateway.data_dir / "ledger.db")
        rows = connection.execute(
            "SELECT status, http_status, output_tokens, cost_micro_eur FROM usage_records WHERE requested_model = ?",
            (model,),
        ).fetchall()
        connection.close()
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def _reserved_nothing(gateway: Gateway, key: str) -> bool:
    """No reservation is left open (fault models cost about 1 EUR per worst case, so one would show)."""
    usage = httpx.get(f"{gateway.base_url}/v1/me/usage", headers={"Authorization": f"Bearer {key}"}).json()
    budgets = usage["budgets"]
    assert budgets, "the employee has budgets"
    return all(float(budget["reserved"]) == 0 for budget in budgets)


def _assert_openai_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert set(error) == {"message", "type", "code", "param"}


@pytest.mark.parametrize(
    ("model", "status", "code"),
    [
        ("fault-500", 502, "upstream_error"),
        ("fault-refused", 502, "upstream_error"),
        ("fault-garbage", 502, "upstream_error"),
        ("fault-slow", 504, "upstream_timeout"),
    ],
)
def test_a_failing_provider_without_fallback_is_an_openai_error_with_one_ledger_row(gateway, key, model, status, code):
    response = _chat(gateway, key, model)

    _assert_openai_error(response, status, code)
    assert _rows(gateway, model) == [(code, status, 0, 0)]
    assert _reserved_nothing(gateway, key)


def test_a_failing_provider_with_a_fallback_is_answered_by_the_fallback(gateway, key, upstream):
    response = _chat(gateway, key, "fault-500-with-fallback")

    assert response.status_code == 200, response.text
    assert response.headers["X-Sobria-Model"] == "test-small"
    assert upstream.stats().get("fail-500-b", 0) >= 1
    [(status, http_status, output_tokens, cost)] = _rows(gateway, "fault-500-with-fallback")
    assert (status, http_status) == ("ok", 200) and output_tokens > 0 and cost > 0
    assert _reserved_nothing(gateway, key)


def test_a_stream_that_fails_before_its_first_byte_is_an_openai_error(gateway, key):
    response = _chat(gateway, key, "fault-500", stream=True)

    _assert_openai_error(response, 502, "upstream_error")


def test_a_stream_cut_mid_way_ends_with_an_error_chunk_and_is_settled_on_what_was_generated(gateway, key):
    response = _chat(gateway, key, "fault-cut", stream=True)

    assert response.status_code == 200
    events = [line for line in response.text.splitlines() if line.startswith("data: ")]
    assert '"error"' in events[-1]
    assert "[DONE]" not in response.text
    [(status, http_status, output_tokens, cost)] = _rows(gateway, "fault-cut")
    assert http_status >= 500
    assert 0 < output_tokens < 40 and cost > 0
    assert _reserved_nothing(gateway, key)
