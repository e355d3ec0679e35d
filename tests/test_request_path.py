"""End to end: the official openai SDK against a real gateway process and a real upstream.

The gateway runs `sobria serve` on a free port; its models point at the mock upstream
on loopback, so litellm's real HTTP path runs. One gateway serves the whole module.
"""

from __future__ import annotations

from collections.abc import Iterator
import asyncio
import sqlite3

import httpx
import openai
import pytest

from tests.processes import Gateway, catalogue_for, start_gateway, start_mock_upstream, stop


@pytest.fixture(scope="module")
def upstream():
    mock = start_mock_upstream("--output-tokens", "24")
    yield mock
    stop(mock.process)


@pytest.fixture(scope="module")
def gateway(upstream, tmp_path_factory) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path_factory.mktemp("gw"), catalogue_for(upstream.base_url))
    yield gw
    stop(gw.process)


@pytest.fixture(scope="module")
def employee_key(gateway: Gateway) -> str:
    return gateway.create_key("alice", "finance")


def client(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)


def ledger_rows(gateway: Gateway, request_id: str | None = None) -> list[sqlite3.Row]:
    connection = sqlite3.connect(gateway.data_dir / "ledger.db")
    connection.row_factory = sqlite3.Row
    try:
        sql = "SELECT * FROM usage_records"
        if request_id:
            return connection.execute(sql + " WHERE request_id = ?", (request_id,)).fetchall()
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def wait_for_row(gateway: Gateway, request_id: str) -> sqlite3.Row:
    for _ in range(100):
        rows = ledger_rows(gateway, request_id)
        if rows:
            return rows[0]
        import time

        time.sleep(0.05)
    raise AssertionError(f"no ledger row for {request_id}")


def test_plain_completion_through_sdk_carries_sobria_headers_and_usage(gateway, employee_key, upstream):
    raw = client(gateway, employee_key).chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "Traduis en anglais : le chat dort."}],
        extra_headers={"X-Sobria-Use-Case": "translation"},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content.startswith("w0 w1")
    assert raw.headers["X-Sobria-Model"] == "test-small"
    assert raw.headers["X-Sobria-Use-Case"] == "translation"
    for header in ("X-Sobria-Rule", "X-Sobria-Energy-Wh", "X-Sobria-CO2e-g", "X-Sobria-Cost-EUR",
                   "X-Sobria-Budget-Remaining-EUR", "X-Sobria-Carbon-Budget-Remaining-g"):
        assert raw.headers.get(header), header
    sobria = completion.usage.model_extra["sobria"]
    assert completion.usage.completion_tokens == 24
    assert sobria["gwp_g"]["min"] <= sobria["gwp_g"]["value"] <= sobria["gwp_g"]["max"]
    assert float(raw.headers["X-Sobria-Cost-EUR"]) == pytest.approx(
        (completion.usage.prompt_tokens * 0.10 + 24 * 0.30) / 1e6, abs=1e-6
    )
    assert "X-Sobria-Demo" not in raw.headers


def test_streamed_completion_ends_with_usage_chunk_carrying_sobria(gateway, employee_key):
    stream = client(gateway, employee_key).chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Résume ce paragraphe."}],
        extra_headers={"X-Sobria-Use-Case": "summarisation"},
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.split() == [f"w{i}" for i in range(24)]
    final = chunks[-1]
    assert final.choices == []
    assert final.usage.completion_tokens == 24
    assert final.usage.model_extra["sobria"]["model"] == "test-small"
    assert float(final.usage.model_extra["sobria"]["cost_eur"]) > 0


def test_streamed_response_headers_name_model_and_budgets(gateway, employee_key):
    with httpx.stream(
        "POST",
        f"{gateway.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {employee_key}"},
        json={"model": "auto", "stream": True, "messages": [{"role": "user", "content": "hi"}],
              "metadata": {"use_case": "translation"}},
    ) as response:
        body = response.read().decode()
    assert response.headers["X-Sobria-Model"] == "test-small"
    assert response.headers["X-Sobria-Budget-Remaining-EUR"]
    assert body.rstrip().endswith("data: [DONE]")


def test_models_list_shows_catalogue_and_marks_demo_models(gateway, employee_key):
    models = {m.id: m for m in client(gateway, employee_key).models.list().data}
    assert {"auto", "test-small", "test-large", "demo-small"} <= set(models)
    assert models["demo-small"].owned_by == "sobria-demo"
    assert models["test-small"].owned_by != "sobria-demo"


def test_demo_model_answers_offline_and_says_so(gateway, employee_key):
    raw = client(gateway, employee_key).chat.completions.with_raw_response.create(
        model="demo-small", messages=[{"role": "user", "content": "Bonjour"}], max_tokens=50
    )
    completion = raw.parse()
    assert raw.headers["X-Sobria-Demo"] == "true"
    assert "demo" in completion.choices[0].message.content.lower()
    assert 40 <= completion.usage.completion_tokens <= 50


def test_start_up_log_states_what_each_model_is(gateway):
    log = gateway.log()
    assert "demo-small" in log and "offline demo model: answers are placeholders" in log
    assert "openai/test-small at http://127.0.0.1" in log


def test_ledger_records_each_call_without_prompt_text(gateway, employee_key):
    secret_prompt = "Le mot de passe du coffre est 1234"
    raw = client(gateway, employee_key).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": secret_prompt}],
        extra_headers={"X-Sobria-Use-Case": "translation"},
    )
    row = wait_for_row(gateway, raw.headers["X-Request-Id"])
    assert row["status"] == "ok" and row["served_model"] == "test-small"
    assert row["use_case"] == "translation" and row["department"] == "finance"
    assert row["employee_pseudonym"] != "alice" and len(row["employee_pseudonym"]) == 32
    assert row["output_tokens"] == 24 and row["cost_micro_eur"] > 0 and row["gwp_ug"] > 0
    assert row["impact_method"].startswith("ecologits-")
    database = (gateway.data_dir / "ledger.db").read_bytes()
    assert secret_prompt.encode() not in database


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b'{"model": "auto"}', 400, "invalid_request"),
        (b'{"model": "auto", "messages": []}', 400, "invalid_request"),
        (b'{"model": "auto", "messages": [{"role": "wizard", "content": "x"}]}', 400, "invalid_request"),
        (b'{"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}', 404, "model_not_found"),
        (b'{"model": "auto", "max_tokens": -3, "messages": [{"role": "user", "content": "x"}]}', 400, "invalid_request"),
    ],
)
def test_bad_input_gets_openai_shaped_4xx(gateway, employee_key, body, status, code):
    response = httpx.post(
        f"{gateway.base_url}/v1/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {employee_key}", "Content-Type": "application/json"},
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and "type" in error and "param" in error


def test_oversized_body_is_refused_with_413(gateway, employee_key):
    big = b'{"model": "auto", "messages": [{"role": "user", "content": "' + b"a" * 1_200_000 + b'"}]}'
    response = httpx.post(
        f"{gateway.base_url}/v1/chat/completions", content=big,
        headers={"Authorization": f"Bearer {employee_key}"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_invalid_key_gets_401_in_openai_shape(gateway):
    with pytest.raises(openai.AuthenticationError) as caught:
        client(gateway, "sk-sobria-not-a-key").models.list()
    assert caught.value.status_code == 401
    assert caught.value.body["code"] == "invalid_api_key"


def test_errors_speak_french_to_french_readers(gateway):
    response = httpx.get(f"{gateway.base_url}/v1/models", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert response.status_code == 401
    assert "Aucune clé" in response.json()["error"]["message"]


def test_refused_requests_are_recorded_with_their_error_and_no_charge(gateway, employee_key):
    before = len(ledger_rows(gateway))
    httpx.post(
        f"{gateway.base_url}/v1/chat/completions",
        json={"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]},
        headers={"Authorization": f"Bearer {employee_key}"},
    )
    for _ in range(50):
        rows = ledger_rows(gateway)
        if len(rows) > before:
            break
        asyncio.run(asyncio.sleep(0.05))
    refused = [r for r in ledger_rows(gateway) if r["status"] == "model_not_found"]
    assert refused and all(r["cost_micro_eur"] == 0 and r["http_status"] == 404 for r in refused)
