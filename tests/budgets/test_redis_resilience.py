"""The Redis store when Redis loses its data or stops answering.

Tests that stop Redis run their own redis-server on a free port, never the shared one.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.budgets.redis import RedisBudgetStore
from gateway.budgets.redis_connection import redis_client
from gateway.budgets.store import Amount, BudgetLimit, BudgetStoreUnavailable
from tests.conftest import free_port

from .conftest import T0, FakeLedger

EUR_100 = BudgetLimit("employee:alice", "eur", 100)
DEPT_EUR_1000 = BudgetLimit("department:finance", "eur", 1000)


class OwnRedis:
    """A private redis-server this test may stop and start at will."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )
        client = aioredis.from_url(self.url)
        try:
            for _ in range(200):
                try:
                    await client.ping()
                    return
                except (aioredis.ConnectionError, OSError):
                    await asyncio.sleep(0.02)
            raise RuntimeError("own redis-server did not start")
        finally:
            await client.aclose()

    async def stop(self, keep_data: bool) -> None:
        """Shut down; with `keep_data` the data is saved and reloaded on the next start."""
        client = aioredis.from_url(self.url)
        try:
            await client.shutdown(save=keep_data, nosave=not keep_data)
        except (aioredis.ConnectionError, OSError):
            pass
        finally:
            await client.aclose()
        assert self.process is not None
        await asyncio.to_thread(self.process.wait, 10)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def own_redis_server(tmp_path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server binary not installed")
    server = OwnRedis(tmp_path)
    yield server
    server.kill()


@pytest.fixture
async def own_client(own_redis_server: OwnRedis) -> AsyncIterator[aioredis.Redis]:
    await own_redis_server.start()
    client = aioredis.from_url(own_redis_server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    yield client
    await client.aclose()


async def spend(store, reservation_id: str, limits, micro: int, at=T0) -> None:
    assert (await store.reserve(reservation_id, limits, Amount(micro, 0), at)).granted
    await store.settle(reservation_id, Amount(micro, 0), at)


async def test_counters_flushed_mid_window_are_rebuilt_from_the_ledger(redis_client, key_prefix, ledger):
    store = RedisBudgetStore(redis_client, prefix=key_prefix, rebuild_source=ledger)
    await spend(store, "r1", [EUR_100], 90)
    ledger.add("employee:alice", "eur", T0, 90)
    store.written(["r1"])  # the ledger writer's acknowledgement: the rebuild reads it from the ledger
    await asyncio.sleep(0.1)
    keys = [k async for k in redis_client.scan_iter(match=key_prefix + "*")]
    await redis_client.delete(*keys)
    later = T0 + timedelta(minutes=5)
    refused = await store.reserve("r2", [EUR_100], Amount(20, 0), later)
    assert not refused.granted
    assert refused.statuses[0].spent_micro == 90


async def test_the_hold_watcher_stops_when_cancelled_even_with_its_client_closed_under_it(redis_url, key_prefix,
                                                                                       redis_client):
    """Cancelled at every moment of its cycle, the watcher ends: before, a cancellation
    swallowed inside a Redis call left it looping and hung the event loop's shutdown.
    (`redis_client` is asked for its clean-up: it deletes the keys under the test's prefix.)"""
    for attempt in range(150):
        client = aioredis.from_url(redis_url)
        store = RedisBudgetStore(client, prefix=f"{key_prefix}{attempt}:", rebuild_grace_s=0.0)
        assert (await store.reserve("r1", [EUR_100], Amount(1, 0), T0)).granted
        await client.aclose()
        await asyncio.sleep(0.01 * (attempt % 30))
        watcher = store._watcher
        assert watcher is not None
        watcher.cancel()
        await asyncio.wait([watcher], timeout=5)
        assert watcher.done(), f"the watcher went on after its cancellation (attempt {attempt})"


async def test_counter_keys_expire_within_their_window(redis_client, key_prefix):
    store = RedisBudgetStore(redis_client, prefix=key_prefix)
    await spend(store, "r1", [EUR_100], 10)
    ttl = await redis_client.ttl(f"{key_prefix}c:{EUR_100.counter_id}")
    assert 0 < ttl <= EUR_100.window_seconds + EUR_100.bucket_seconds


async def test_fail_closed_raises_unavailable_while_redis_is_down(own_redis_server, own_client):
    store = RedisBudgetStore(own_client, prefix="t:", on_unavailable="fail_closed", probe_interval_s=0)
    await spend(store, "r1", [EUR_100], 10)
    await own_redis_server.stop(keep_data=False)
    with pytest.raises(BudgetStoreUnavailable):
        await store.reserve("r2", [EUR_100], Amount(10, 0), T0)


async def test_fail_open_admits_while_down_and_adds_the_spending_once_redis_returns(own_redis_server, own_client):
    store = RedisBudgetStore(own_client, prefix="t:", on_unavailable="fail_open", probe_interval_s=0)
    await spend(store, "before", [EUR_100, DEPT_EUR_1000], 30)
    await own_redis_server.stop(keep_data=True)
    admitted = await store.reserve("during", [EUR_100, DEPT_EUR_1000], Amount(50, 0), T0)
    assert admitted.granted and admitted.degraded
    await store.settle("during", Amount(40, 0), T0)
    await own_redis_server.start()
    assert await store.reconcile() == 0
    statuses = await store.status([EUR_100, DEPT_EUR_1000], T0)
    assert [s.spent_micro for s in statuses] == [70, 70]


async def test_a_settle_that_fails_while_down_is_replayed_once_redis_returns(own_redis_server, own_client):
    store = RedisBudgetStore(own_client, prefix="t:", on_unavailable="fail_closed", probe_interval_s=0)
    assert (await store.reserve("r1", [EUR_100], Amount(50, 0), T0)).granted
    await own_redis_server.stop(keep_data=True)
    assert await store.settle("r1", Amount(20, 0), T0) == []
    await own_redis_server.start()
    [status] = await store.status([EUR_100], T0)
    assert (status.spent_micro, status.reserved_micro) == (20, 0)


async def test_redis_restarted_empty_is_rebuilt_from_the_ledger_not_a_fresh_budget(own_redis_server, own_client):
    ledger = FakeLedger()
    store = RedisBudgetStore(own_client, prefix="t:", rebuild_source=ledger, probe_interval_s=0)
    await spend(store, "r1", [EUR_100], 90)
    ledger.add("employee:alice", "eur", T0, 90)
    await own_redis_server.stop(keep_data=False)
    await own_redis_server.start()
    refused = await store.reserve("r2", [EUR_100], Amount(20, 0), T0 + timedelta(minutes=1))
    assert not refused.granted


async def test_steady_refusals_while_down_do_not_postpone_the_next_probe(own_redis_server, own_client):
    # No rebuild grace: this is about the probe window, not about replicas re-applying holds.
    store = RedisBudgetStore(
        own_client, prefix="t:", on_unavailable="fail_closed", probe_interval_s=0.5, rebuild_grace_s=0
    )
    await spend(store, "r1", [EUR_100], 10)
    await own_redis_server.stop(keep_data=False)
    with pytest.raises(BudgetStoreUnavailable):
        await store.reserve("r2", [EUR_100], Amount(10, 0), T0)
    await own_redis_server.start()
    loop = asyncio.get_running_loop()
    restarted_at = loop.time()
    granted_after = None
    for attempt in range(40):  # a request every 50 ms: the down window must still end
        try:
            if (await store.reserve(f"r{attempt + 3}", [EUR_100], Amount(10, 0), T0)).granted:
                granted_after = loop.time() - restarted_at
                break
        except BudgetStoreUnavailable:
            await asyncio.sleep(0.05)
    assert granted_after is not None and granted_after < 1.0


async def test_after_a_flush_each_replica_re_applies_its_holds_and_unwritten_spending_exactly_once(
    redis_client, key_prefix, ledger
):
    replica_a = RedisBudgetStore(redis_client, prefix=key_prefix, rebuild_source=ledger, rebuild_grace_s=0.3)
    replica_b = RedisBudgetStore(redis_client, prefix=key_prefix, rebuild_source=ledger, rebuild_grace_s=0.3)
    assert (await replica_a.reserve("streaming", [EUR_100], Amount(40, 0), T0)).granted
    await spend(replica_b, "answered", [EUR_100], 30)  # settled, not yet written to the ledger
    keys = [k async for k in redis_client.scan_iter(match=key_prefix + "*")]
    await redis_client.delete(*keys)  # what FLUSHALL does to this prefix

    [rebuilt] = await replica_a.status([EUR_100], T0)
    assert (rebuilt.spent_micro, rebuilt.reserved_micro) == (0, 0)  # the ledger alone knows nothing
    for _ in range(3):  # the watchers run a few times a second; re-applying twice changes nothing
        await replica_a.resync()
        await replica_b.resync()
    [status] = await replica_a.status([EUR_100], T0)
    assert (status.spent_micro, status.reserved_micro) == (30, 40)
    assert not (await replica_b.reserve("late", [EUR_100], Amount(40, 0), T0)).granted

    await replica_a.settle("streaming", Amount(35, 0), T0)
    [settled] = await replica_b.status([EUR_100], T0)
    assert (settled.spent_micro, settled.reserved_micro) == (65, 0)


async def test_one_counter_rebuilt_by_another_replica_without_a_flush_gets_this_replicas_hold_back(
    redis_client, key_prefix, ledger
):
    holder = RedisBudgetStore(redis_client, prefix=key_prefix, rebuild_source=ledger, rebuild_grace_s=0)
    other = RedisBudgetStore(redis_client, prefix=key_prefix, rebuild_source=ledger, rebuild_grace_s=0)
    assert (await holder.reserve("streaming", [EUR_100, DEPT_EUR_1000], Amount(40, 0), T0)).granted
    assert await holder.resync() == 0  # nothing rebuilt: the quick check finds nothing to do
    await redis_client.delete(f"{key_prefix}c:{EUR_100.counter_id}")  # evicted or expired alone
    await other.status([EUR_100], T0)  # the other replica rebuilds it from the ledger
    assert await holder.resync() == 1
    [employee, department] = await other.status([EUR_100, DEPT_EUR_1000], T0)
    assert (employee.reserved_micro, department.reserved_micro) == (40, 40)


async def test_a_hold_counted_under_an_epoch_the_last_resync_did_not_see_forces_a_full_comparison(
    redis_client, key_prefix, ledger
):
    # The `rebuilt` mark tells a replica that some counter was rebuilt; a hold whose reply
    # carries an epoch other than the one its last full resync saw tells it too, even
    # when the mark looks unchanged (here put back by hand, as a reordered reply would).
    holder = RedisBudgetStore(redis_client, prefix=key_prefix, rebuild_source=ledger, rebuild_grace_s=0)
    other = RedisBudgetStore(redis_client, prefix=key_prefix, rebuild_source=ledger, rebuild_grace_s=0)
    assert (await holder.reserve("first", [EUR_100], Amount(30, 0), T0)).granted
    await holder.resync()
    mark = await redis_client.get(key_prefix + "rebuilt")
    await redis_client.delete(f"{key_prefix}c:{EUR_100.counter_id}")
    await other.status([EUR_100], T0)
    await redis_client.set(key_prefix + "rebuilt", mark)
    assert (await holder.reserve("second", [EUR_100], Amount(20, 0), T0)).granted
    assert await holder.resync() == 1
    [status] = await other.status([EUR_100], T0)
    assert status.reserved_micro == 50


class SlowLedger(FakeLedger):
    """A ledger that takes 200 ms to answer and notes the scopes of each rebuild asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[set[str]] = []

    async def __call__(self, limits: list[BudgetLimit], now: datetime) -> dict[BudgetLimit, dict[int, int]]:
        self.asked.append({limit.scope for limit in limits})
        await asyncio.sleep(0.2)
        return await super().__call__(limits, now)


async def test_after_a_flush_a_shared_counter_is_seeded_once_for_a_burst_of_its_members(
    redis_client, key_prefix
):
    ledger = SlowLedger()
    ledger.add("department:finance", "eur", T0, 600)
    store = RedisBudgetStore(redis_client, prefix=key_prefix, rebuild_source=ledger, rebuild_grace_s=0)

    async def one(n: int) -> bool:
        limits = [BudgetLimit(f"employee:e{n}", "eur", 100), DEPT_EUR_1000]
        return (await store.reserve(f"burst-{n}", limits, Amount(10, 0), T0)).granted

    granted = await asyncio.gather(*(one(n) for n in range(32)))
    assert granted.count(True) == 32
    assert sum("department:finance" in scopes for scopes in ledger.asked) == 1
    assert sum(len(scopes) for scopes in ledger.asked) == 33  # 32 employees and the department
    [department] = await store.status([DEPT_EUR_1000], T0)
    assert (department.spent_micro, department.reserved_micro) == (600, 320)


async def test_spending_already_in_the_ledger_when_counters_are_rebuilt_is_not_re_applied(
    redis_client, key_prefix, ledger
):
    store = RedisBudgetStore(redis_client, prefix=key_prefix, rebuild_source=ledger, rebuild_grace_s=0)
    await spend(store, "written", [EUR_100], 50)
    ledger.add("employee:alice", "eur", T0, 50)
    store.written(["written"])
    await asyncio.sleep(0.2)
    await redis_client.delete(*[k async for k in redis_client.scan_iter(match=key_prefix + "*")])
    await store.status([EUR_100], T0)
    await store.resync()
    [status] = await store.status([EUR_100], T0)
    assert status.spent_micro == 50


async def test_a_replica_whose_clock_runs_20_minutes_ahead_does_not_expire_the_holds_of_others(
    redis_client, key_prefix
):
    from datetime import UTC, datetime

    on_time = RedisBudgetStore(redis_client, prefix=key_prefix, reservation_ttl_s=60)
    ahead = RedisBudgetStore(redis_client, prefix=key_prefix, reservation_ttl_s=60)
    now = datetime.now(UTC)
    assert (await on_time.reserve("running", [EUR_100], Amount(80, 0), now)).granted
    refused = await ahead.reserve("greedy", [EUR_100], Amount(30, 0), now + timedelta(minutes=20))
    assert not refused.granted
    assert refused.statuses[0].reserved_micro == 80


async def test_fail_open_admits_at_most_this_replicas_share_of_the_room(own_redis_server, own_client):
    store = RedisBudgetStore(own_client, prefix="t:", on_unavailable="fail_open", probe_interval_s=0,
                             fail_open_replicas=3)
    await own_redis_server.stop(keep_data=False)
    assert store.fail_open_allowance(EUR_100) == 33
    assert (await store.reserve("first", [EUR_100], Amount(20, 0), T0)).granted
    refused = await store.reserve("second", [EUR_100], Amount(20, 0), T0)
    assert not refused.granted and refused.refused_by == EUR_100
    await store.settle("first", Amount(10, 0), T0)  # 10 used: 20 more fit in the 33 allowed
    assert (await store.reserve("third", [EUR_100], Amount(20, 0), T0)).granted
    assert not (await store.reserve("fourth", [EUR_100], Amount(5, 0), T0)).granted


def _no_retry_client(server: OwnRedis, timeout_s: float) -> aioredis.Redis:
    """A client that times out after `timeout_s` and does not retry on its own (the
    store's own single retry is then the only one)."""
    return aioredis.from_url(server.url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                             retry=Retry(NoBackoff(), 0))


def _fail_closed_store(client: aioredis.Redis) -> RedisBudgetStore:
    """A fail-closed store that, once it marks Redis down, stays so for the whole test."""
    return RedisBudgetStore(client, prefix="t:", on_unavailable="fail_closed", probe_interval_s=30, rebuild_grace_s=0)


async def test_a_timeout_while_the_event_loop_runs_late_fails_that_call_without_marking_redis_down(
    own_redis_server,
):
    await own_redis_server.start()
    client = _no_retry_client(own_redis_server, 0.2)
    store = _fail_closed_store(client)
    try:
        await spend(store, "r1", [EUR_100], 10)
        timed_out = False
        # A saturated worker: the loop blocks 0.25 s at a time, so a reply that arrives
        # during a block is read only after the 0.2 s timeout has fired (unless it was
        # read in the same pass as the timer: then the call succeeds, and the next tries).
        for attempt in range(40):
            late = asyncio.create_task(store.reserve(f"late{attempt}", [EUR_100], Amount(1, 0), T0))
            while not late.done():
                time.sleep(0.25)
                await asyncio.sleep(0)
            try:
                await late
            except BudgetStoreUnavailable:
                timed_out = True
                break
        assert timed_out
        assert (await store.reserve("r3", [EUR_100], Amount(1, 0), T0)).granted
    finally:
        await client.aclose()


async def test_a_timeout_while_the_event_loop_is_on_time_still_marks_redis_down(own_redis_server):
    await own_redis_server.start()
    client = _no_retry_client(own_redis_server, 0.2)
    store = _fail_closed_store(client)
    try:
        await spend(store, "r1", [EUR_100], 10)
        assert own_redis_server.process is not None
        own_redis_server.process.send_signal(signal.SIGSTOP)  # a hung Redis: connected, silent
        try:
            with pytest.raises(BudgetStoreUnavailable):
                await store.reserve("r2", [EUR_100], Amount(10, 0), T0)
        finally:
            own_redis_server.process.send_signal(signal.SIGCONT)
        with pytest.raises(BudgetStoreUnavailable):  # marked down: refused without trying
            await store.reserve("r3", [EUR_100], Amount(10, 0), T0)
    finally:
        await client.aclose()


async def test_calls_beyond_the_pool_wait_for_a_connection_instead_of_failing(own_redis_server):
    await own_redis_server.start()
    client = redis_client(own_redis_server.url, 1.0, max_connections=2)
    store = RedisBudgetStore(client, prefix="t:", on_unavailable="fail_closed", probe_interval_s=30,
                             rebuild_grace_s=0)
    try:
        granted = await asyncio.gather(*(store.reserve(f"r{i}", [EUR_100], Amount(1, 0), T0) for i in range(50)))
        assert all(result.granted for result in granted)
    finally:
        await client.aclose()


async def test_an_exhausted_pool_fails_those_calls_without_marking_redis_down(own_redis_server):
    await own_redis_server.start()
    client = aioredis.from_url(own_redis_server.url, socket_timeout=1.0, max_connections=2)  # raises when exhausted
    store = RedisBudgetStore(client, prefix="t:", on_unavailable="fail_closed", probe_interval_s=30,
                             rebuild_grace_s=0)
    try:
        outcomes = await asyncio.gather(*(store.reserve(f"r{i}", [EUR_100], Amount(1, 0), T0) for i in range(50)),
                                        return_exceptions=True)
        assert any(isinstance(outcome, BudgetStoreUnavailable) for outcome in outcomes)
        assert (await store.reserve("after", [EUR_100], Amount(1, 0), T0)).granted
    finally:
        await client.aclose()
