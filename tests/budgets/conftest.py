"""Fixtures for the budget tests: a store factory run once per store implementation,
a fixed clock, and an in-memory stand-in for the ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from gateway.budgets.memory import InMemoryBudgetStore
from gateway.budgets.redis import RedisBudgetStore
from gateway.budgets.store import BudgetLimit, BudgetStore
from gateway.budgets.windows import epoch_s, lower_bucket
from tests.conftest import stop_budget_watchers

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)

StoreFactory = Callable[..., BudgetStore]


class FakeLedger:
    """Spending rows (scope, unit, at, micro) answering as a `RebuildSource`."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, datetime, int]] = []
        self.calls = 0

    def add(self, scope: str, unit: str, at: datetime, micro: int) -> None:
        self.rows.append((scope, unit, at, micro))

    async def __call__(self, limits: list[BudgetLimit], now: datetime) -> dict[BudgetLimit, dict[int, int]]:
        self.calls += 1
        now_s = epoch_s(now)
        history: dict[BudgetLimit, dict[int, int]] = {}
        for limit in limits:
            start = lower_bucket(limit, now_s) * limit.bucket_seconds
            buckets: dict[int, int] = {}
            for scope, unit, at, micro in self.rows:
                at_s = epoch_s(at)
                if scope == limit.scope and unit == limit.unit and start <= at_s <= now_s:
                    bucket_start = int(at_s // limit.bucket_seconds) * limit.bucket_seconds
                    buckets[bucket_start] = buckets.get(bucket_start, 0) + micro
            history[limit] = buckets
        return history


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


@pytest.fixture(params=["memory", "redis"])
async def make_store(request, key_prefix: str) -> AsyncIterator[StoreFactory]:
    """Builds stores of one kind; Redis stores built by one test share counters (like
    replicas) but each has its own connection."""
    if request.param == "memory":
        shared: list[InMemoryBudgetStore] = []

        def memory(**kwargs) -> BudgetStore:
            if not shared:
                shared.append(InMemoryBudgetStore(**kwargs))
            return shared[0]

        yield memory
        return

    import redis.asyncio as aioredis

    redis_url = request.getfixturevalue("redis_url")
    clients: list[aioredis.Redis] = []

    def redis_store(**kwargs) -> BudgetStore:
        client = aioredis.from_url(redis_url)
        clients.append(client)
        return RedisBudgetStore(client, prefix=key_prefix, **kwargs)

    yield redis_store
    await stop_budget_watchers()
    cleaner = aioredis.from_url(redis_url)
    keys = [k async for k in cleaner.scan_iter(match=key_prefix + "*")]
    if keys:
        await cleaner.delete(*keys)
    await cleaner.aclose()
    for client in clients:
        await client.aclose()
