"""A provider's impossible usage figures end as warning codes on the caller's answer and the ledger row."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import select

from gateway.app import create_app
from gateway.ledger.tables import UsageRecord
from gateway.settings import Settings
from tests.processes import TEST_FALLBACKS, catalogue_for, policy_for


class NegativeUsageProvider(BaseHTTPRequestHandler):
    """An OpenAI-compatible server whose usage block reports a negative prompt count."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        answer = {
            "id": "chatcmpl-neg", "object": "chat.completion", "created": 1, "model": body.get("model", "m"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Bonjour."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": -40, "completion_tokens": 5, "total_tokens": -35},
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def provider_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), NegativeUsageProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


async def test_negative_prompt_tokens_are_clamped_and_said_so_on_the_answer_and_the_row(tmp_path, provider_url):
    (tmp_path / "catalogue.yaml").write_text(catalogue_for(provider_url))
    (tmp_path / "policy.yaml").write_text(policy_for(TEST_FALLBACKS))
    settings = Settings(
        data_dir=tmp_path / "data", catalogue_path=tmp_path / "catalogue.yaml", policy_path=tmp_path / "policy.yaml",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}", redis_url=None, ledger_flush_interval_s=0.05,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        key, _ = await app.state.keys.create("impacts test", "alice", "finance", ["employee"])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sobria.test") as client:
            response = await client.post(
                "/v1/chat/completions",
                json={"model": "test-large", "messages": [{"role": "user", "content": "Traduis : le chat dort."}]},
                headers={"Authorization": f"Bearer {key}"},
            )
        assert response.status_code == 200, response.text
        sobria = response.json()["usage"]["sobria"]
        # The budget layer clamps the provider's impossible count before anything is estimated.
        assert "provider-usage-clamped" in sobria["warnings"] and sobria["usage_source"] == "clamped"
        assert sobria["gwp_market_g"] is None
        energy = sobria["energy_wh"]
        assert all(math.isfinite(energy[k]) for k in ("min", "value", "max"))
        assert energy["min"] <= energy["value"] <= energy["max"]
        for _ in range(100):
            async with app.state.engine.connect() as conn:
                row = (await conn.execute(select(UsageRecord).where(UsageRecord.status == "ok"))).first()
            if row is not None:
                break
            await asyncio.sleep(0.05)
    assert row is not None
    assert "provider-usage-clamped" in row.impact_warnings and row.usage_source == "clamped"
    assert row.gwp_market_ug is None
    assert row.catalogue_version == "test" and row.factor_set_version == "sobria-factors-2026.2"
    assert row.energy_wh_min <= row.energy_wh <= row.energy_wh_max
    # A negative count is replaced by the gateway's own count of the prompt, never charged below zero.
    assert row.input_tokens > 0 and row.output_tokens == 5 and row.cost_micro_eur > 0
