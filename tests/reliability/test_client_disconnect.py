"""A client that leaves mid-stream: the upstream call is cancelled, what was generated is settled."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.request.tokens import text_tokens
from tests.conftest import free_port
from tests.processes import catalogue_for, start_gateway, stop, wait_until_up

DRIP = Path(__file__).with_name("drip_upstream.py")


@pytest.fixture
def drip():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(DRIP), "--port", str(port), "--interval-ms", "50", "--tokens", "200"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until_up(f"http://127.0.0.1:{port}/stats", process)
    yield f"http://127.0.0.1:{port}"
    stop(process)


def test_a_client_leaving_mid_stream_cancels_the_upstream_call_and_settles_what_was_generated(drip, tmp_path):
    gateway = start_gateway(tmp_path, catalogue_for(f"{drip}/v1"), {"SOBRIA_UPSTREAM_RETRIES": "0"})
    try:
        key = gateway.create_key("gaston", "legal")
        headers = {"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation"}
        body = {"model": "test-small", "stream": True, "messages": [{"role": "user", "content": "Traduis: bonjour"}]}
        received: list[str] = []
        with httpx.stream("POST", f"{gateway.base_url}/v1/chat/completions", headers=headers, json=body) as response:
            assert response.status_code == 200
            request_id = response.headers["X-Request-Id"]
            for line in response.iter_lines():
                if line.startswith("data: "):
                    delta = json.loads(line[6:])["choices"][0]["delta"]
                    received.append(delta.get("content") or "")
                if len(received) == 5:
                    break
        time.sleep(1.0)
        stats = httpx.get(f"{drip}/stats").json()

        assert stats.get("cancelled") == 1 and not stats.get("finished")
        assert stats["chunks_sent"] < 40
        connection = sqlite3.connect(gateway.data_dir / "ledger.db")
        row = connection.execute(
            "SELECT status, http_status, output_tokens, cost_micro_eur FROM usage_records WHERE request_id = ?",
            (request_id,),
        ).fetchone()
        connection.close()
        status, http_status, output_tokens, cost = row
        assert (status, http_status) == ("client_disconnected", 499)
        assert text_tokens("".join(received)) <= output_tokens < text_tokens("w100 " * 200)
        assert cost > 0
    finally:
        stop(gateway.process)
