"""SIGTERM during traffic: in-flight requests finish and every ledger record is written."""

from __future__ import annotations

import asyncio
import signal
import sqlite3

import httpx
import pytest

from tests.processes import catalogue_for, start_gateway, start_mock_upstream, stop


@pytest.fixture
def upstream():
    mock = start_mock_upstream("--delay-ms", "150", "--output-tokens", "16")
    yield mock
    stop(mock.process)


async def _send(client: httpx.AsyncClient, key: str, n: int) -> list[str]:
    ids: list[str] = []
    for _ in range(n):
        try:
            response = await client.post(
                "/v1/chat/completions",
                headers={"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation"},
                json={"model": "auto", "messages": [{"role": "user", "content": "bonjour"}]},
            )
        except httpx.HTTPError:
            return ids
        if response.status_code == 200:
            ids.append(response.headers["X-Request-Id"])
    return ids


def test_sigterm_during_traffic_loses_no_ledger_row(upstream, tmp_path):
    gateway = start_gateway(tmp_path, catalogue_for(upstream.base_url))
    key = gateway.create_key("bob", "legal")

    async def traffic() -> list[str]:
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=30) as client:
            senders = [asyncio.create_task(_send(client, key, 50)) for _ in range(8)]
            await asyncio.sleep(1.5)
            gateway.process.send_signal(signal.SIGTERM)
            results = await asyncio.gather(*senders)
        return [i for ids in results for i in ids]

    answered = asyncio.run(traffic())
    assert stop(gateway.process) in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a clean stop
    assert "Application shutdown complete" in gateway.log()
    assert len(answered) >= 8
    connection = sqlite3.connect(gateway.data_dir / "ledger.db")
    recorded = {row[0] for row in connection.execute("SELECT request_id FROM usage_records WHERE status='ok'")}
    connection.close()
    assert set(answered) <= recorded
