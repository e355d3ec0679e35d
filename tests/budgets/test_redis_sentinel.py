"""The budget store behind Redis Sentinel survives a failover; an evicting Redis is refused.

Each test starts its own redis-server instances (a primary, a replica, a sentinel) on
free ports and kills the primary; the shared Redis is never touched."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.budgets.redis import RedisBudgetStore
from gateway.budgets.redis_connection import (
    EvictingRedis,
    redis_client,
    refuse_evicting_policy,
)
from gateway.budgets.store import EUR, Amount, BudgetLimit, BudgetStoreUnavailable
from tests.conftest import IN_CI, free_port


def _redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is not installed (CI=true: it must be)")
        pytest.skip("redis-server is not installed")
    return binary


def _wait_ping(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False)
        if done.stdout.strip() == "PONG":
            return
        time.sleep(0.05)
    raise TimeoutError(f"redis on {port} did not answer")


class Servers:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.processes: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        process = subprocess.Popen([_redis_server_binary(), *args], stdout=subprocess.DEVNULL, cwd=self.tmp)
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    started = Servers(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def start_data_node(servers: Servers, port: int, *extra: str) -> subprocess.Popen:
    process = servers.start("--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(servers.tmp),
                            "--dbfilename", f"dump-{port}.rdb", *extra)
    _wait_ping(port)
    return process


async def test_reservations_go_on_after_the_primary_fails_over(servers):
    primary_port, replica_port, sentinel_port = free_port(), free_port(), free_port()
    primary = start_data_node(servers, primary_port)
    start_data_node(servers, replica_port, "--replicaof", "127.0.0.1", str(primary_port))
    config = servers.tmp / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nsentinel monitor budgets 127.0.0.1 {primary_port} 1\n"
        "sentinel down-after-milliseconds budgets 500\nsentinel failover-timeout budgets 5000\n")
    servers.start(str(config), "--sentinel")
    _wait_ping(sentinel_port)
    direct = Redis(port=primary_port)
    for _ in range(100):  # the replica has finished its first sync
        replica = (await direct.info("replication")).get("slave0")
        if isinstance(replica, dict) and replica.get("state") == "online":
            break
        await asyncio.sleep(0.1)

    client = redis_client(f"redis+sentinel://127.0.0.1:{sentinel_port}/budgets/0", timeout_s=2.0)
    store = RedisBudgetStore(client, prefix="sentinel-test:")
    limit = BudgetLimit("employee:alice", EUR, 1_000)
    now = datetime.now(UTC)
    assert (await store.reserve("r1", [limit], Amount(300, 0), now)).granted
    await store.settle("r1", Amount(300, 0), now)
    assert await direct.execute_command("WAIT", 1, 1000) == 1  # the replica holds the spending
    await direct.aclose()

    primary.kill()
    primary.wait()
    status = None
    for _ in range(120):  # the sentinel notices, promotes the replica; the client follows
        try:
            status = await store.status([limit], now)
            break
        except (BudgetStoreUnavailable, RedisError):
            await asyncio.sleep(0.25)
    assert status is not None and status[0].spent_micro == 300
    assert (await store.reserve("r2", [limit], Amount(700, 0), now)).granted
    refused = await store.reserve("r3", [limit], Amount(1, 0), now)
    assert not refused.granted
    role = await Redis(port=replica_port).execute_command("ROLE")
    assert role[0] in (b"master", "master")
    await client.aclose()


async def test_an_evicting_redis_is_refused_at_start_up_and_noeviction_accepted(servers):
    evicting, safe = free_port(), free_port()
    start_data_node(servers, evicting, "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    start_data_node(servers, safe, "--maxmemory-policy", "noeviction")
    with pytest.raises(EvictingRedis, match="allkeys-lru"):
        await refuse_evicting_policy(redis_client(f"redis://127.0.0.1:{evicting}/0", 2.0))
    assert await refuse_evicting_policy(redis_client(f"redis://127.0.0.1:{safe}/0", 2.0)) == "noeviction"


def test_a_sentinel_url_names_its_service():
    with pytest.raises(ValueError, match="service"):
        redis_client("redis+sentinel://127.0.0.1:26379", 1.0)
