"""Prometheus metrics of the gateway, served at `/metrics`.

Labels are bounded by construction: a model label is a catalogue name (or `none`), a
use case is a resolved one (or `unresolved`), a department is a directory code, a
status is one of the gateway's outcome codes. Never an employee, a key or a prompt.
Each process keeps its own registry; with several workers, scrape each one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from gateway.ledger.records import LedgerRecord

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
GC_PAUSE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
TTFT_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class _LedgerCollector(Collector):
    """Reads the ledger writer's queue depth and flush errors when scraped."""

    def __init__(self, pending: Callable[[], int], flush_errors: Callable[[], int]):
        self._pending = pending
        self._flush_errors = flush_errors

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily("sobria_ledger_queue_depth", "Usage records waiting to be written", self._pending())
        yield CounterMetricFamily(
            "sobria_ledger_flush_errors", "Ledger batch writes that failed (and are retried)", self._flush_errors()
        )


class _DeadLetterCollector(Collector):
    """Rows set aside as dead letters, per source table, read when scraped."""

    def __init__(self, counts: Callable[[], dict[str, int]]):
        self._counts = counts

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "sobria_ledger_dead_letters", "Rows the database refused, set aside with the reason", labels=["table"]
        )
        for table in ("usage_records", "access_refusals", "content_log"):
            family.add_metric([table], self._counts().get(table, 0))
        yield family


class Metrics:
    """The gateway's counters and histograms in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        usage = ["model", "use_case", "department"]
        self.requests = Counter(
            "sobria_requests", "Chat completion requests by outcome", ["status", "model", "use_case"], registry=r
        )
        self.tokens = Counter("sobria_tokens", "Tokens by direction", ["direction", *usage], registry=r)
        self.cost = Counter("sobria_cost_eur", "Cost charged, in euros", usage, registry=r)
        self.energy = Counter("sobria_energy_wh", "Estimated energy, in watt-hours", usage, registry=r)
        self.co2e = Counter("sobria_co2e_grams", "Estimated emissions, in grams CO2e", usage, registry=r)
        self.latency = Histogram(
            "sobria_request_duration_seconds", "Time from request to last byte", ["model", "stream"],
            buckets=LATENCY_BUCKETS_S, registry=r,
        )
        self.ttft = Histogram(
            "sobria_time_to_first_token_seconds", "Time from request to the first generated text of a stream",
            ["model"], buckets=TTFT_BUCKETS_S, registry=r,
        )
        self.budget_rejections = Counter(
            "sobria_budget_rejections", "Requests refused because a budget would be exceeded",
            ["use_case", "department"], registry=r,
        )
        self.upstream_errors = Counter(
            "sobria_upstream_errors", "Failed upstream attempts (before retries and fallbacks)",
            ["deployment", "code"], registry=r,
        )
        self.gc_pauses = Histogram(
            "sobria_gc_pause_seconds", "Pauses of the garbage collector, by the oldest generation collected",
            ["generation"], buckets=GC_PAUSE_BUCKETS_S, registry=r,
        )
        self._gc_children = tuple(self.gc_pauses.labels(str(generation)) for generation in range(3))
        self._usage_children: dict[tuple[str, str, str], tuple[Any, ...]] = {}

    def watch_ledger(self, pending: Callable[[], int], flush_errors: Callable[[], int]) -> None:
        """Expose the ledger writer's queue depth and flush errors."""
        self.registry.register(_LedgerCollector(pending, flush_errors))

    def watch_dead_letters(self, counts: Callable[[], dict[str, int]]) -> None:
        """Expose the rows set aside because the database refused them, per table."""
        self.registry.register(_DeadLetterCollector(counts))

    def gc_pause(self, generation: int, pause_s: float) -> None:
        """One collection of the garbage collector (the event loop waited for it)."""
        self._gc_children[generation].observe(pause_s)

    def upstream_error(self, deployment: str, code: str) -> None:
        self.upstream_errors.labels(deployment, code).inc()

    def _usage(self, model: str, use_case: str, department: str) -> tuple[Any, ...]:
        key = (model, use_case, department)
        children = self._usage_children.get(key)
        if children is None:
            children = (
                self.tokens.labels("input", *key),
                self.tokens.labels("output", *key),
                self.cost.labels(*key),
                self.energy.labels(*key),
                self.co2e.labels(*key),
            )
            self._usage_children[key] = children
        return children

    def observe(self, record: LedgerRecord, model: str, use_case: str) -> None:
        """Count one finished request from its ledger record (labels already bounded)."""
        status = record.status
        department = record.department or "none"
        self.requests.labels(status, model, use_case).inc()
        if status == "budget_exceeded":
            self.budget_rejections.labels(use_case, department).inc()
        self.latency.labels(model, "true" if record.stream else "false").observe(record.latency_ms / 1000)
        if record.ttft_ms is not None:
            self.ttft.labels(model).observe(record.ttft_ms / 1000)
        if record.input_tokens or record.output_tokens:
            tokens_in, tokens_out, cost, energy, co2e = self._usage(model, use_case, department)
            tokens_in.inc(record.input_tokens)
            tokens_out.inc(record.output_tokens)
            cost.inc(record.cost_micro_eur / 1_000_000)
            energy.inc(record.energy_wh)
            co2e.inc(record.gwp_ug / 1_000_000)

    def render(self) -> bytes:
        return generate_latest(self.registry)
