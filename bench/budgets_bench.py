"""Cost of the budget step per request: reserve + settle on four budgets, both stores.

Run: python bench/budgets_bench.py [--redis redis://127.0.0.1:6379/0] [--requests 20000] [--holds 2000]
Prints µs per request (one at a time) and requests/s (with concurrent callers), then the
cost of one pass of a replica's hold watcher (`resync`, five times a second) with
`--holds` requests in flight: when no counter was rebuilt, and right after one was.
Uses its own key prefix on Redis and deletes it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

from redis.asyncio import Redis

from gateway.budgets.memory import InMemoryBudgetStore
from gateway.budgets.redis import RedisBudgetStore
from gateway.budgets.store import GCO2E, Amount, BudgetLimit, BudgetStore

EMPLOYEES = 500
WORST = Amount(20_000, 2_000_000)
ACTUAL = Amount(5_000, 600_000)


def _limits(e: int) -> list[BudgetLimit]:
    employee = f"employee:bench-{e}"
    return [
        BudgetLimit(employee, "eur", 10**12),
        BudgetLimit(employee, GCO2E, 10**15),
        BudgetLimit(f"department:d{e % 7}", GCO2E, 10**15),
        BudgetLimit("org", "eur", 10**15),
    ]


LIMITS = [_limits(e) for e in range(EMPLOYEES)]
"""Built once, as BudgetService caches them per principal."""


def limits_of(i: int) -> list[BudgetLimit]:
    return LIMITS[i % EMPLOYEES]


async def one_request(store: BudgetStore, i: int) -> None:
    now = datetime.now(UTC)
    reservation = f"bench-{i}"
    result = await store.reserve(reservation, limits_of(i), WORST, now)
    assert result.granted
    await store.settle(reservation, ACTUAL, now)


async def sequential(store: BudgetStore, n: int, offset: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        await one_request(store, offset + i)
    return (time.perf_counter() - start) / n * 1e6


async def concurrent(store: BudgetStore, n: int, offset: int, callers: int) -> float:
    async def caller(c: int) -> None:
        for i in range(c, n, callers):
            await one_request(store, offset + i)

    start = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    return n / (time.perf_counter() - start)


async def measure(name: str, store: BudgetStore, n: int, callers: int) -> tuple[str, float, float]:
    await sequential(store, min(n, 2000), 10**8)
    per_request_us = await sequential(store, n, 0)
    throughput = await concurrent(store, n, 2 * 10**8, callers)
    return name, per_request_us, throughput


async def watcher_pass(client: Redis, prefix: str, holds: int, runs: int = 20) -> tuple[float, float]:
    """Median ms of one `resync` with `holds` reservations in flight: steady, and after a rebuild."""
    store = RedisBudgetStore(client, prefix=prefix)
    now = datetime.now(UTC)
    for i in range(holds):
        assert (await store.reserve(f"held-{i}", limits_of(i), WORST, now)).granted
    await store.resync()
    steady, rebuilt = [], []
    for run in range(runs):
        began = time.perf_counter()
        await store.resync()
        steady.append(time.perf_counter() - began)
        await client.delete(prefix + "c:" + limits_of(run)[0].counter_id)
        await store.status(limits_of(run), now)  # rebuilt from its (empty) history: a new epoch
        began = time.perf_counter()
        await store.resync()
        rebuilt.append(time.perf_counter() - began)
    return sorted(steady)[runs // 2] * 1000, sorted(rebuilt)[runs // 2] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--holds", type=int, default=2000)
    args = parser.parse_args()

    rows = [await measure("in-process", InMemoryBudgetStore(), args.requests, args.callers)]

    import redis.asyncio as aioredis

    prefix = f"sobria-bench:{uuid.uuid4().hex[:8]}:"
    client = aioredis.from_url(args.redis, max_connections=args.callers + 4)
    try:
        redis_n = max(1, args.requests // 4)
        rows.append(await measure("redis", RedisBudgetStore(client, prefix=prefix), redis_n, args.callers))
        steady_ms, rebuilt_ms = await watcher_pass(client, prefix + "w:", args.holds)
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
        await client.aclose()

    print("reserve + settle on 4 budgets (employee EUR+gCO2e, department gCO2e, org EUR)")
    print(f"{'store':<12} {'µs/request (sequential)':>24} {'requests/s (' + str(args.callers) + ' callers)':>26}")
    for name, per_request_us, throughput in rows:
        print(f"{name:<12} {per_request_us:>24.1f} {throughput:>26.0f}")
    print(f"hold watcher, one pass with {args.holds} requests in flight (median ms): "
          f"nothing rebuilt {steady_ms:.2f}, right after a rebuild {rebuilt_ms:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
