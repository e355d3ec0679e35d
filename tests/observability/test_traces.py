"""One OpenTelemetry span per request, GenAI conventions plus sobria.* attributes."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from gateway.observability.telemetry import tracer_provider_from_env
from tests.observability.conftest import OUTPUT_TOKENS


async def test_a_completion_gives_one_server_span_named_after_operation_and_model(gateway):
    await gateway.chat()
    roots = [s for s in gateway.spans.get_finished_spans() if s.parent is None]
    assert [s.name for s in roots] == ["chat auto"]
    assert roots[0].kind == SpanKind.SERVER


async def test_the_request_span_carries_genai_attributes(gateway):
    response = await gateway.chat()
    attributes = gateway.finished()["chat auto"].attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "auto"
    assert attributes["gen_ai.response.model"] == "test-small"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.usage.output_tokens"] == OUTPUT_TOKENS
    assert attributes["gen_ai.usage.input_tokens"] == response.json()["usage"]["prompt_tokens"]


async def test_the_request_span_carries_sobria_attributes(gateway):
    response = await gateway.chat()
    attributes = gateway.finished()["chat auto"].attributes
    sobria = response.json()["usage"]["sobria"]
    assert attributes["sobria.request_id"] == response.headers["X-Request-Id"]
    assert attributes["sobria.use_case"] == "translation"
    assert attributes["sobria.rule"] == response.headers["X-Sobria-Rule"]
    assert attributes["sobria.policy_version"] == response.headers["X-Sobria-Policy-Version"]
    assert attributes["sobria.cost_eur"] == float(sobria["cost_eur"])
    assert attributes["sobria.energy_wh"] == sobria["energy_wh"]["value"]
    assert attributes["sobria.gwp_g"] == pytest.approx(sobria["gwp_g"]["value"], abs=1e-6)
    assert attributes["sobria.budget.outcome"] == "settled"


async def test_policy_budget_and_upstream_are_child_spans_of_the_request(gateway):
    await gateway.chat()
    spans = gateway.finished()
    root = spans["chat auto"]
    for name in ("sobria.policy", "sobria.budget.reserve", "sobria.budget.settle", "chat test-small"):
        assert spans[name].parent.span_id == root.context.span_id, name
        assert spans[name].context.trace_id == root.context.trace_id


async def test_the_upstream_span_is_a_genai_client_span(gateway):
    await gateway.chat()
    upstream = gateway.finished()["chat test-small"]
    assert upstream.kind == SpanKind.CLIENT
    assert upstream.attributes["gen_ai.provider.name"] == "openai"
    assert upstream.attributes["gen_ai.request.model"] == "test-small"
    assert upstream.attributes["sobria.upstream.path"] == "relay"


async def test_a_streamed_completion_is_traced_with_its_usage(gateway):
    await gateway.chat(stream=True)
    attributes = gateway.finished()["chat auto"].attributes
    assert attributes["sobria.stream"] is True
    assert attributes["gen_ai.usage.output_tokens"] == OUTPUT_TOKENS
    assert attributes["sobria.ttft_ms"] > 0


async def test_a_refused_request_has_an_error_span_with_its_code(gateway):
    await gateway.chat(model="no-such-model")
    root = gateway.finished()["chat no-such-model"]
    assert root.status.status_code == StatusCode.ERROR
    assert root.attributes["error.type"] == "model_not_found"
    assert gateway.finished()["sobria.policy"].status.status_code == StatusCode.ERROR


def test_tracing_is_off_unless_otel_variables_configure_an_exporter():
    assert tracer_provider_from_env({}) is None
    assert tracer_provider_from_env({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}) is None
    assert tracer_provider_from_env({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}) is None


def test_an_otlp_endpoint_turns_tracing_on_with_the_service_name():
    provider = tracer_provider_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
                                         "OTEL_SERVICE_NAME": "sobria-test"})
    try:
        assert provider.resource.attributes["service.name"] == "sobria-test"
    finally:
        provider.shutdown()
