"""A gateway killed with SIGKILL under traffic: what the spool's sync policy lets it lose.

Every answered request must be in the ledger after a restart (the restart replays the
spool). With `record` sync the bound is zero; with `batch` sync it is the records
answered in the last flush interval before the kill, and the test prints the loss it
measured.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import time

import httpx
import pytest

from tests.processes import SOBRIA, Gateway, catalogue_for, start_gateway, start_mock_upstream, stop, wait_until_up

SENDERS = 8
FLUSH_INTERVAL_S = 0.5


@pytest.fixture(scope="module")
def upstream():
    mock = start_mock_upstream("--delay-ms", "20", "--output-tokens", "8")
    yield mock
    stop(mock.process)


async def _traffic(gateway: Gateway, key: str, kill_after_s: float) -> dict[str, float]:
    """Request id -> how long before the kill it was answered (negative: after it)."""
    answered_at: dict[str, float] = {}

    async def sender(client: httpx.AsyncClient) -> None:
        while True:
            try:
                response = await client.post(
                    "/v1/chat/completions",
                    headers={"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation"},
                    json={"model": "test-small", "messages": [{"role": "user", "content": "bonjour"}]},
                )
            except httpx.HTTPError:
                return
            if response.status_code == 200:
                answered_at[response.headers["X-Request-Id"]] = time.monotonic()

    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client:
        tasks = [asyncio.create_task(sender(client)) for _ in range(SENDERS)]
        await asyncio.sleep(kill_after_s)
        killed_at = time.monotonic()
        gateway.process.send_signal(signal.SIGKILL)
        await asyncio.gather(*tasks)
    return {request_id: killed_at - moment for request_id, moment in answered_at.items()}


def _restart(gateway: Gateway) -> subprocess.Popen:
    with open(gateway.data_dir.parent / "restart.log", "w") as log:
        process = subprocess.Popen([str(SOBRIA), "serve"], env=gateway.env, stdout=log, stderr=subprocess.STDOUT)
    wait_until_up(f"{gateway.base_url}/healthz", process)
    return process


def _recorded(gateway: Gateway) -> set[str]:
    connection = sqlite3.connect(gateway.data_dir / "ledger.db")
    try:
        return {row[0] for row in connection.execute("SELECT request_id FROM usage_records")}
    finally:
        connection.close()


def _killed_and_restarted(upstream, tmp_path, sync: str) -> tuple[dict[str, float], set[str]]:
    env = {"SOBRIA_LEDGER_SPOOL_SYNC": sync, "SOBRIA_LEDGER_FLUSH_INTERVAL_S": str(FLUSH_INTERVAL_S)}
    gateway = start_gateway(tmp_path, catalogue_for(upstream.base_url), env)
    key = gateway.create_key("jules", "legal")
    answered = asyncio.run(_traffic(gateway, key, kill_after_s=3.0))
    gateway.process.wait(10)
    restarted = _restart(gateway)
    try:
        time.sleep(1.5)
        return answered, _recorded(gateway)
    finally:
        stop(restarted)


def test_sigkill_with_record_sync_loses_no_answered_request(upstream, tmp_path):
    answered, recorded = _killed_and_restarted(upstream, tmp_path, "record")

    lost = set(answered) - recorded
    print(f"SIGKILL, record sync: {len(answered)} answered, {len(lost)} lost")
    assert len(answered) >= 10  # enough traffic in flight to mean something, even on a loaded machine
    assert lost == set()


def test_sigkill_with_batch_sync_loses_only_the_last_flush_interval(upstream, tmp_path):
    answered, recorded = _killed_and_restarted(upstream, tmp_path, "batch")

    lost = set(answered) - recorded
    oldest_lost_s = max((answered[request_id] for request_id in lost), default=0.0)
    print(f"SIGKILL, batch sync ({FLUSH_INTERVAL_S} s): {len(answered)} answered, {len(lost)} lost, "
          f"the oldest answered {oldest_lost_s:.2f} s before the kill")
    assert len(answered) >= 10  # enough traffic in flight to mean something, even on a loaded machine
    # Half an interval of margin for the event loop's own lag on a loaded machine.
    assert oldest_lost_s <= FLUSH_INTERVAL_S * 1.5
