"""Per-request observability: an OpenTelemetry span tree, metrics and one log line.

The pipeline calls four hooks: `begin` when a request starts, `stage` around policy
and budget steps, `upstream` around the provider call, and `finish` with the ledger
record, which every request produces exactly once. Spans follow the GenAI semantic
conventions (`gen_ai.*`) plus `sobria.*` attributes for what the conventions do not
define (use case, rule, policy version, cost, energy, CO2e, budget outcome).
Tracing is off unless the standard `OTEL_*` variables configure an exporter; when
off, the hooks cost a dictionary lookup and a no-op context manager.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from gateway.providers.catalogue import ModelSpec
from contracts.errors import DomainError
from gateway.edge.errors import GatewayError
from gateway.request.flight import Flight
from gateway.ledger.records import LedgerRecord
from gateway.observability.metrics import Metrics

log = logging.getLogger("sobria.request")

#: litellm provider prefixes as `gen_ai.provider.name` well-known values.
_PROVIDERS = {
    "openai": "openai",
    "mistral": "mistral_ai",
    "anthropic": "anthropic",
    "azure": "azure.ai.openai",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "bedrock": "aws.bedrock",
    "groq": "groq",
    "deepseek": "deepseek",
}
_NULL = nullcontext()
_SPAN = "span"


def provider_name(spec: ModelSpec) -> str:
    """The `gen_ai.provider.name` of a deployment (`sobria.demo` for the offline responder)."""
    if spec.is_demo:
        return "sobria.demo"
    prefix = str(spec.litellm_params.get("model", "")).partition("/")[0]
    return _PROVIDERS.get(prefix, prefix or "unknown")


def tracer_provider_from_env(env: Mapping[str, str] | None = None) -> TracerProvider | None:
    """A tracer provider exporting as the `OTEL_*` variables say, or None when tracing is off."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    exporter_name = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if exporter_name == "none" or not (endpoint or exporter_name):
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "sobria")}))
    if exporter_name == "console":
        exporter: Any = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class Telemetry:
    """Spans, metrics and the request log line of every chat completion."""

    def __init__(self, tracer_provider: TracerProvider | None = None, metrics: Metrics | None = None,
                 known_models: frozenset[str] = frozenset()):
        self.tracer: Tracer | None = tracer_provider.get_tracer("sobria") if tracer_provider else None
        self.metrics = metrics
        self.known_models = known_models

    # -- spans --------------------------------------------------------------------------

    def begin(self, flight: Flight) -> None:
        """Open the request's span (kind SERVER; ended by `finish`)."""
        if self.tracer is None:
            return
        request = flight.request
        flight.extra[_SPAN] = self.tracer.start_span(
            f"chat {request.model}",
            kind=SpanKind.SERVER,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": request.model,
                "sobria.request_id": flight.request_id,
                "sobria.stream": request.stream,
                "sobria.department": flight.principal.department,
            },
        )

    def stage(self, flight: Flight, name: str) -> Any:
        """A child span around one stage (`sobria.policy`, `sobria.budget.reserve`, ...)."""
        parent = flight.extra.get(_SPAN) if self.tracer is not None else None
        if parent is None:
            return _NULL
        return self._child(parent, name, SpanKind.INTERNAL, {})

    def upstream(self, flight: Flight, spec: ModelSpec, path: str) -> Any:
        """A GenAI client span around the provider call (kind CLIENT)."""
        parent = flight.extra.get(_SPAN) if self.tracer is not None else None
        if parent is None:
            return _NULL
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": spec.name,
            "gen_ai.provider.name": provider_name(spec),
            "sobria.upstream.path": path,
        }
        if flight.max_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = flight.max_tokens
        return self._child(parent, f"chat {spec.name}", SpanKind.CLIENT, attributes)

    @contextmanager
    def _child(self, parent: Span, name: str, kind: SpanKind, attributes: dict[str, Any]) -> Iterator[Span]:
        assert self.tracer is not None
        span = self.tracer.start_span(name, context=trace.set_span_in_context(parent), kind=kind,
                                      attributes=attributes)
        try:
            yield span
        except (GatewayError, DomainError) as error:
            span.set_attribute("error.type", error.code)
            span.set_status(Status(StatusCode.ERROR, error.code))
            raise
        except BaseException as error:
            span.set_attribute("error.type", type(error).__name__)
            span.set_status(Status(StatusCode.ERROR))
            raise
        finally:
            span.end()

    # -- the end of a request ---------------------------------------------------------------

    def finish(self, flight: Flight, record: LedgerRecord) -> None:
        """Close the request span, count the request, and log one line (never prompt text)."""
        decision = flight.decision
        served = record.served_model
        model = served if served in self.known_models else "none"
        use_case = decision.use_case if decision is not None else "unresolved"
        if self.metrics is not None:
            self.metrics.observe(record, model, use_case)
        span = flight.extra.pop(_SPAN, None)
        if span is not None:
            self._close(span, flight, record, use_case)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "request",
                extra={
                    "request_id": record.request_id,
                    "status": record.status,
                    "http_status": record.http_status,
                    "model": served,
                    "use_case": use_case,
                    "rule": record.rule_id,
                    "department": record.department,
                    "stream": record.stream,
                    "input_tokens": record.input_tokens,
                    "output_tokens": record.output_tokens,
                    "latency_ms": round(record.latency_ms, 2),
                    "ttft_ms": None if record.ttft_ms is None else round(record.ttft_ms, 2),
                },
            )

    def _close(self, span: Span, flight: Flight, record: LedgerRecord, use_case: str) -> None:
        attributes: dict[str, Any] = {
            "sobria.use_case": use_case,
            "sobria.status": record.status,
            "http.response.status_code": record.http_status,
            "sobria.budget.outcome": _budget_outcome(record.status),
        }
        if record.served_model:
            attributes["gen_ai.response.model"] = record.served_model
        spec = flight.spec
        if spec is not None:
            attributes["gen_ai.provider.name"] = provider_name(spec)
        if flight.decision is not None:
            attributes["sobria.rule"] = flight.decision.rule_id
            attributes["sobria.policy_version"] = flight.decision.policy_version
        if record.status in ("ok", "client_disconnected"):
            attributes.update({
                "gen_ai.usage.input_tokens": record.input_tokens,
                "gen_ai.usage.output_tokens": record.output_tokens,
                "sobria.cost_eur": record.cost_micro_eur / 1_000_000,
                "sobria.energy_wh": record.energy_wh,
                "sobria.gwp_g": record.gwp_ug / 1_000_000,
            })
        if record.ttft_ms is not None:
            attributes["sobria.ttft_ms"] = record.ttft_ms
        span.set_attributes(attributes)
        if record.http_status >= 400 and record.status != "client_disconnected":
            span.set_attribute("error.type", record.status)
            span.set_status(Status(StatusCode.ERROR, record.status))
        span.end()


def _budget_outcome(status: str) -> str:
    if status == "budget_exceeded":
        return "rejected"
    if status in ("ok", "client_disconnected"):
        return "settled"
    return "released"
