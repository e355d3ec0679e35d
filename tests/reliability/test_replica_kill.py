"""Three replicas behind one Redis and one PostgreSQL under load; one is SIGKILLed.

The victim flushes its ledger every 60 s, so when it dies its answered requests are
only in its spool.

The survivors' answered requests are all in the ledger. The killed replica's answered
requests are too once it is started again on the same data directory: its spool (sync
policy `record`, the default) is replayed, so no answered request is lost.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time

import asyncpg
import httpx
import pytest

from tests.processes import SOBRIA, Gateway, start_gateway, start_mock_upstream, stop, wait_until_up
from tests.test_budgets_replicas import OUTPUT_TOKENS, catalogue, policy, start_replicas

SENDERS_PER_REPLICA = 3
VICTIM_ANSWERS_BEFORE_KILL = 15


@pytest.fixture
def upstream():
    mock = start_mock_upstream("--output-tokens", str(OUTPUT_TOKENS), "--delay-ms", "10")
    yield mock
    stop(mock.process)


async def _load(replicas: list[Gateway], key: str, victim: Gateway) -> dict[int, list[str]]:
    """Traffic on every replica; SIGKILL `victim` once it has answered enough requests
    (at least 1.5 s in, however slow the machine), stop the rest 1 s later."""
    answered: dict[int, list[str]] = {r.port: [] for r in replicas}
    stopping = asyncio.Event()
    body = {"model": "auto", "max_tokens": OUTPUT_TOKENS, "messages": [{"role": "user", "content": "Bonjour"}]}
    headers = {"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": "translation"}

    async def sender(client: httpx.AsyncClient, replica: Gateway) -> None:
        while not stopping.is_set():
            try:
                response = await client.post(f"{replica.base_url}/v1/chat/completions", headers=headers, json=body)
            except httpx.HTTPError:
                if replica is victim:
                    return
                raise
            assert response.status_code == 200, response.text
            answered[replica.port].append(response.headers["X-Request-Id"])
            await asyncio.sleep(0.02)

    async with httpx.AsyncClient(timeout=30) as client:
        tasks = [asyncio.create_task(sender(client, r)) for r in replicas for _ in range(SENDERS_PER_REPLICA)]
        await asyncio.sleep(1.5)
        deadline = time.monotonic() + 60
        while len(answered[victim.port]) < VICTIM_ANSWERS_BEFORE_KILL and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        victim.process.send_signal(signal.SIGKILL)
        await asyncio.sleep(1.0)
        stopping.set()
        await asyncio.gather(*tasks)
    return answered


async def _recorded(database_url: str) -> set[str]:
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        return {r["request_id"] for r in await connection.fetch("SELECT request_id FROM usage_records")}
    finally:
        await connection.close()


def _wait_for(database_url: str, wanted: set[str], timeout_s: float = 15) -> set[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        recorded = asyncio.run(_recorded(database_url))
        if wanted <= recorded or time.monotonic() > deadline:
            return recorded
        time.sleep(0.2)


def test_a_replica_killed_under_load_loses_no_answered_request(tmp_path, upstream, own_redis, postgres_database):
    budgets = {"SOBRIA_BUDGETS__EMPLOYEE__EUR": "1000", "SOBRIA_BUDGETS__EMPLOYEE__GCO2E_G": "1000000"}
    others = start_replicas(tmp_path, upstream, own_redis.url, postgres_database, 2, **budgets)
    victim_env = {
        "SOBRIA_REDIS_URL": own_redis.url,
        "SOBRIA_DATABASE_URL": postgres_database,
        "SOBRIA_PSEUDONYM_KEY": "replicas-share-this-secret",
        "SOBRIA_LEDGER_FLUSH_INTERVAL_S": "60",  # its records are only in the spool when it is killed
        **budgets,
    }
    victim = start_gateway(tmp_path / "victim", catalogue(upstream.base_url), victim_env, policy_yaml=policy())
    replicas = [*others, victim]
    restarted: subprocess.Popen | None = None
    try:
        key = replicas[0].create_key("mia", "ops")
        answered = asyncio.run(_load(replicas, key, victim))
        assert victim.process.wait(10) == -signal.SIGKILL
        survivors = {i for r in replicas if r is not victim for i in answered[r.port]}
        killed = set(answered[victim.port])

        recorded = _wait_for(postgres_database, survivors)
        missing_before_restart = killed - recorded
        with open(victim.data_dir.parent / "restart.log", "w") as log:
            restarted = subprocess.Popen([str(SOBRIA), "serve"], env=victim.env, stdout=log, stderr=subprocess.STDOUT)
        wait_until_up(f"{victim.base_url}/healthz", restarted)
        recorded = _wait_for(postgres_database, survivors | killed)
    finally:
        for replica in replicas:
            stop(replica.process)
        if restarted is not None:
            stop(restarted)

    print(
        f"replica SIGKILL under load: survivors answered {len(survivors)}, killed replica answered {len(killed)} "
        f"({len(missing_before_restart)} not yet in the ledger at the kill); after restart "
        f"{len(survivors - recorded)} + {len(killed - recorded)} missing"
    )
    assert len(killed) > 10 and len(survivors) > 20
    assert missing_before_restart == killed
    assert survivors - recorded == set()
    assert killed - recorded == set()
