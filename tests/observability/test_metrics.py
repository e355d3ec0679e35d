"""`/metrics` for Prometheus: counts, usage, latency, rejections, upstream and ledger health."""

from __future__ import annotations

import gc
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from gateway.ledger.records import LedgerRecord
from gateway.observability.metrics import Metrics
from tests.observability.conftest import OUTPUT_TOKENS


async def scrape(gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await gateway.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_requests_are_counted_by_status_model_and_use_case(gateway):
    await gateway.chat()
    await gateway.chat(model="no-such-model")
    samples = await scrape(gateway)
    assert value(samples, "sobria_requests_total", status="ok", model="test-small", use_case="translation") == 1
    assert value(samples, "sobria_requests_total", status="model_not_found", model="none", use_case="unresolved") == 1


async def test_tokens_cost_energy_and_co2e_are_counted_by_model_use_case_and_department(gateway):
    response = await gateway.chat()
    sobria = response.json()["usage"]["sobria"]
    samples = await scrape(gateway)
    labels = {"model": "test-small", "use_case": "translation", "department": "finance"}
    assert value(samples, "sobria_tokens_total", direction="output", **labels) == OUTPUT_TOKENS
    assert value(samples, "sobria_tokens_total", direction="input", **labels) == response.json()["usage"]["prompt_tokens"]
    assert value(samples, "sobria_cost_eur_total", **labels) == float(sobria["cost_eur"])
    assert value(samples, "sobria_energy_wh_total", **labels) > 0
    assert value(samples, "sobria_co2e_grams_total", **labels) > 0


async def test_latency_and_time_to_first_token_are_histograms(gateway):
    await gateway.chat()
    await gateway.chat(stream=True)
    samples = await scrape(gateway)
    assert value(samples, "sobria_request_duration_seconds_count", model="test-small", stream="false") == 1
    assert value(samples, "sobria_request_duration_seconds_count", model="test-small", stream="true") == 1
    assert value(samples, "sobria_time_to_first_token_seconds_count", model="test-small") == 1


async def test_ledger_queue_depth_and_flush_errors_are_exposed(gateway):
    samples = await scrape(gateway)
    assert ("sobria_ledger_queue_depth", ()) in samples
    assert ("sobria_ledger_flush_errors_total", ()) in samples


async def test_no_label_names_an_employee_or_a_key(gateway):
    await gateway.chat()
    text = (await gateway.client.get("/metrics")).text
    assert "alice" not in text
    assert gateway.key not in text
    assert "Le chat dort" not in text


def test_budget_rejections_are_counted_by_use_case_and_department():
    metrics = Metrics()
    now = datetime.now(UTC)
    record = LedgerRecord(
        request_id="req_1", started_at=now, finished_at=now, employee_pseudonym="p", department="finance",
        roles="employee", key_id="k", use_case="translation", requested_model="test-small", served_model=None,
        rule_id=None, policy_version=None, classifier_confidence=None, classifier_runner_up=None,
        classifier_runner_up_confidence=None, classifier_low_confidence=None, status="budget_exceeded",
        http_status=402, stream=False, demo=False, input_tokens=0, output_tokens=0, max_tokens=None,
        latency_ms=2.0, ttft_ms=None, cost_micro_eur=0, error_message="budget_exceeded", usage_source=None,
    )
    metrics.observe(record, "test-small", "translation")
    assert metrics.registry.get_sample_value(
        "sobria_budget_rejections_total", {"use_case": "translation", "department": "finance"}) == 1


def test_upstream_errors_are_counted_by_deployment_and_code():
    metrics = Metrics()
    metrics.upstream_error("test-small", "upstream_timeout")
    assert metrics.registry.get_sample_value(
        "sobria_upstream_errors_total", {"deployment": "test-small", "code": "upstream_timeout"}) == 1


async def test_a_configured_scrape_token_is_required(gateway):
    gateway.app.state.settings = gateway.app.state.settings.model_copy(update={"metrics_token": "scrape-secret"})
    assert (await gateway.client.get("/metrics")).status_code == 401
    wrong = await gateway.client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await gateway.client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert right.status_code == 200 and "sobria_requests_total" in right.text


async def test_metrics_require_a_token_by_default_when_listening_beyond_loopback(gateway):
    settings = gateway.app.state.settings
    gateway.app.state.settings = settings.model_copy(update={"host": "0.0.0.0"})
    refused = await gateway.client.get("/metrics")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "metrics_token_required")
    gateway.app.state.settings = settings.model_copy(update={"host": "0.0.0.0", "metrics_token": "scrape-secret"})
    assert (await gateway.client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})).status_code == 200
    gateway.app.state.settings = settings.model_copy(update={"host": "0.0.0.0", "metrics_open": True})
    assert (await gateway.client.get("/metrics")).status_code == 200


async def test_garbage_collector_pauses_are_a_histogram_by_generation(gateway):
    before = value(await scrape(gateway), "sobria_gc_pause_seconds_count", generation="2")
    gc.collect()
    samples = await scrape(gateway)
    assert value(samples, "sobria_gc_pause_seconds_count", generation="2") >= before + 1
    assert ("sobria_gc_pause_seconds_bucket", (("generation", "0"), ("le", "0.001"))) in samples
