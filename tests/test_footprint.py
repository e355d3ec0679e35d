"""Measured mode in the gateway: codecarbon windows for the gateway itself and a local model.

The service tests run real codecarbon (offline) against a real SQLite ledger; the last
test runs `sobria serve` with measured mode on and a measured model on loopback.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import httpx
import pytest
from sqlalchemy import select

from gateway.providers.catalogue import Catalogue
from gateway.observability.footprint import Footprint, gateway_report, measured_models
from gateway.observability.footprint_tables import GATEWAY_SUBJECT, MeasuredShare, MeasurementWindow
from gateway.ledger import db
from tests.processes import catalogue_for, start_gateway, start_mock_upstream, stop


def _work() -> None:
    sum(i * i for i in range(300_000))


async def _engine(url: str):
    await db.upgrade(url)
    return db.make_engine(url)


async def _windows(engine, subject: str) -> list[MeasurementWindow]:
    async with db.sessionmaker(engine)() as session:
        query = select(MeasurementWindow).where(MeasurementWindow.subject == subject)
        return list((await session.scalars(query.order_by(MeasurementWindow.id))).all())


async def _shares(engine, window_id: int) -> list[MeasuredShare]:
    async with db.sessionmaker(engine)() as session:
        return list((await session.scalars(select(MeasuredShare).where(MeasuredShare.window_id == window_id))).all())


async def test_a_window_closes_on_its_own_and_records_the_gateway_energy_and_requests(sqlite_url, tmp_path):
    engine = await _engine(sqlite_url)
    footprint = Footprint(engine, {}, window_s=1, output_dir=str(tmp_path))
    await footprint.start()
    for i in range(3):
        _work()
        footprint.observe("any-model", f"req-{i}", 100)
    try:
        while not await _windows(engine, GATEWAY_SUBJECT):
            await asyncio.sleep(0.2)
    finally:
        await footprint.stop()
    first = (await _windows(engine, GATEWAY_SUBJECT))[0]
    assert first.energy_wh > 0
    assert first.requests == 3
    assert first.tracking_mode == "process"
    await engine.dispose()


async def test_a_measured_model_window_is_shared_among_its_requests_by_tokens(sqlite_url, tmp_path):
    engine = await _engine(sqlite_url)
    footprint = Footprint(engine, {"local-test": "FRA"}, window_s=3600, output_dir=str(tmp_path))
    await footprint.start()
    for i, tokens in enumerate([100, 300]):
        _work()
        footprint.observe("local-test", f"req-{i}", tokens)
    await footprint.stop()
    [window] = await _windows(engine, "local-test")
    shares = {s.request_id: s for s in await _shares(engine, window.id)}
    assert window.energy_wh > 0 and window.requests == 2 and window.tokens == 400
    assert sum(s.energy_wh for s in shares.values()) == pytest.approx(window.energy_wh)
    assert shares["req-1"].energy_wh == pytest.approx(3 * shares["req-0"].energy_wh)
    assert sum(s.gwp_g for s in shares.values()) == pytest.approx(window.gwp_g)
    await engine.dispose()


async def test_requests_of_an_estimated_model_count_for_the_gateway_only(sqlite_url, tmp_path):
    engine = await _engine(sqlite_url)
    footprint = Footprint(engine, {"local-test": "FRA"}, window_s=3600, output_dir=str(tmp_path))
    await footprint.start()
    footprint.observe("gpt-4o", "req-hosted", 500)
    await footprint.stop()
    [gateway] = await _windows(engine, GATEWAY_SUBJECT)
    [model] = await _windows(engine, "local-test")
    assert gateway.requests == 1
    assert model.requests == 0 and await _shares(engine, model.id) == []
    await engine.dispose()


async def test_the_gateway_report_gives_energy_per_request_and_totals(sqlite_url, tmp_path):
    engine = await _engine(sqlite_url)
    footprint = Footprint(engine, {}, window_s=3600, output_dir=str(tmp_path))
    await footprint.start()
    for i in range(4):
        footprint.observe("any-model", f"req-{i}", 10)
    await footprint.roll()
    await footprint.stop()
    report = await gateway_report(engine)
    newest, oldest = report["windows"]
    assert oldest["requests"] == 4
    assert oldest["energy_wh_per_request"] == pytest.approx(oldest["energy_wh"] / 4)
    assert newest["requests"] == 0 and newest["energy_wh_per_request"] is None
    assert report["totals"]["windows"] == 2
    assert report["totals"]["energy_wh"] == pytest.approx(oldest["energy_wh"] + newest["energy_wh"])
    await engine.dispose()


def _catalogue(api_base: str, measured: bool) -> Catalogue:
    model = {
        "name": "local-test", "tier": "small", "litellm_params": {"model": "openai/x", "api_base": api_base},
        "price_eur_per_mtok": {"input": "0", "output": "0"},
        "impact": {"provider": "self-hosted", "zone": "FRA", "measured": measured},
    }
    return Catalogue.from_dict({"version": "t", "models": [model]}, {})


def test_only_declared_models_served_from_this_host_are_measured():
    assert measured_models(_catalogue("http://127.0.0.1:11434/v1", True).all()) == {"local-test": "FRA"}
    assert measured_models(_catalogue("http://127.0.0.1:11434/v1", False).all()) == {}
    assert measured_models(_catalogue("https://gpu-farm.example.com/v1", True).all()) == {}


MEASURED_MODEL = """
  - name: local-measured
    tier: small
    litellm_params: {{model: openai/local-measured, api_base: "{url}", api_key: mock}}
    price_eur_per_mtok: {{input: "0", output: "0"}}
    max_output_tokens: 256
    impact: {{provider: self-hosted, ecologits_provider: huggingface_hub, ecologits_model: meta-llama/Meta-Llama-3.1-8B-Instruct, zone: FRA, measured: true}}
"""


@pytest.fixture(scope="module")
def measured_gateway(tmp_path_factory):
    """A gateway in measured mode (2 s windows) that served three requests of a measured local model."""
    upstream = start_mock_upstream("--output-tokens", "24")
    gateway = start_gateway(
        tmp_path_factory.mktemp("measured"),
        catalogue_for(upstream.base_url, MEASURED_MODEL.format(url=upstream.base_url)),
        extra_env={"SOBRIA_MEASURED_MODE": "true", "SOBRIA_MEASUREMENT_WINDOW_S": "2"},
    )
    try:
        headers = {"Authorization": f"Bearer {gateway.create_key('alice', 'finance')}"}
        body = {"model": "local-measured", "messages": [{"role": "user", "content": "Bonjour"}]}
        request_ids = [
            httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body, headers=headers, timeout=30).headers[
                "X-Request-Id"
            ]
            for _ in range(3)
        ]
        yield gateway, headers, request_ids
    finally:
        stop(gateway.process)
        stop(upstream.process)


def _report_with_windows(gateway, headers, request_ids) -> dict:
    """GET /v1/impacts/gateway once the window holding the requests has closed."""
    deadline = time.monotonic() + 20
    while True:
        report = httpx.get(f"{gateway.base_url}/v1/impacts/gateway", headers=headers, timeout=10).json()
        if sum(w["requests"] for w in report["windows"]) >= len(request_ids) or time.monotonic() > deadline:
            return report
        time.sleep(0.5)


def test_the_gateway_reports_its_own_measured_windows(measured_gateway):
    report = _report_with_windows(*measured_gateway)
    assert report["measured_mode"] is True
    assert report["windows"][0]["energy_wh"] > 0
    assert report["totals"]["requests"] >= 3


def test_the_methodology_publishes_measured_mode_and_the_gateway_footprint(measured_gateway):
    gateway, _, _ = measured_gateway
    published = httpx.get(f"{gateway.base_url}/v1/impacts/methodology", timeout=10).json()["measured_mode"]
    assert "local-measured" in published["models"]
    assert "energy_wh_per_request" in published["gateway_footprint"]


def test_each_measured_request_keeps_its_estimate_beside_its_share(measured_gateway):
    gateway, headers, request_ids = measured_gateway
    _report_with_windows(gateway, headers, request_ids)
    connection = sqlite3.connect(gateway.data_dir / "ledger.db")
    try:
        rows = connection.execute(
            "SELECT u.request_id, u.impact_source, u.energy_wh, s.energy_wh FROM usage_records u "
            "JOIN measured_shares s USING (request_id)"
        ).fetchall()
    finally:
        connection.close()
    measured = {rid: (source, estimate, share) for rid, source, estimate, share in rows}
    assert set(request_ids) <= set(measured)
    assert all(measured[rid][0] == "model-based" and measured[rid][1] > 0 and measured[rid][2] > 0 for rid in request_ids)
