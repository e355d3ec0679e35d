"""A gateway app in this process, traced into memory, its models at a mock upstream."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.app import create_app
from gateway.observability.logs import JsonFormatter
from gateway.settings import Settings
from tests.processes import MockUpstream, catalogue_for, policy_for, TEST_FALLBACKS, start_mock_upstream, stop

OUTPUT_TOKENS = 8


@pytest.fixture(scope="session")
def mock_upstream() -> Iterator[MockUpstream]:
    mock = start_mock_upstream("--output-tokens", str(OUTPUT_TOKENS))
    yield mock
    stop(mock.process)


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient
    key: str
    spans: InMemorySpanExporter
    log: io.StringIO

    async def chat(self, use_case: str = "translation", **body) -> httpx.Response:
        payload = {"model": "auto", "messages": [{"role": "user", "content": "Le chat dort."}], **body}
        return await self.client.post(
            "/v1/chat/completions", json=payload,
            headers={"Authorization": f"Bearer {self.key}", "X-Sobria-Use-Case": use_case},
        )

    def finished(self) -> dict[str, object]:
        """Finished spans by name (the last one of each name)."""
        return {span.name: span for span in self.spans.get_finished_spans()}


@pytest.fixture
async def gateway(tmp_path, mock_upstream) -> AsyncIterator[Harness]:
    (tmp_path / "catalogue.yaml").write_text(catalogue_for(mock_upstream.base_url))
    (tmp_path / "policy.yaml").write_text(policy_for(TEST_FALLBACKS))
    settings = Settings(
        data_dir=tmp_path / "data",
        catalogue_path=tmp_path / "catalogue.yaml",
        policy_path=tmp_path / "policy.yaml",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
        redis_url=None,
        ledger_flush_interval_s=0.05,
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(settings)
    app.state.tracer_provider = provider
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(JsonFormatter())
    request_log = logging.getLogger("sobria.request")
    request_log.addHandler(handler)
    try:
        async with app.router.lifespan_context(app):
            key, _ = await app.state.keys.create("obs test", "alice", "finance", ["employee"])
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sobria.test") as client:
                yield Harness(app, client, key, exporter, captured)
    finally:
        request_log.removeHandler(handler)
