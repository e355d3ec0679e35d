"""Build the budget store the settings ask for: Redis when a URL is given (plain, TLS or
Sentinel, see `gateway.budgets.redis_connection`), else in-process."""

from __future__ import annotations

import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.budgets.config import BudgetsConfig
from gateway.budgets.memory import InMemoryBudgetStore
from gateway.budgets.redis import RedisBudgetStore
from gateway.budgets.redis_connection import redis_client, refuse_evicting_policy
from gateway.budgets.store import BudgetStore, RebuildSource

log = logging.getLogger("sobria.budgets")


def build_store(config: BudgetsConfig, redis_url: str | None, rebuild_source: RebuildSource | None) -> BudgetStore:
    """The store for this gateway; both kinds rebuild unseen counters from `rebuild_source`."""
    if not redis_url:
        return InMemoryBudgetStore(rebuild_source, config.reservation_ttl_s, config.settle_grace_s)
    client = redis_client(redis_url, config.redis_timeout_s)
    return RedisBudgetStore(
        client,
        prefix=config.redis_prefix,
        rebuild_source=rebuild_source,
        reservation_ttl_s=config.reservation_ttl_s,
        settle_grace_s=config.settle_grace_s,
        on_unavailable=config.on_redis_unavailable,
        fail_open_replicas=config.fail_open_replicas,
        rebuild_grace_s=config.rebuild_grace_s,
    )


async def check_store(store: BudgetStore) -> None:
    """At start-up: refuse a Redis that may evict counters. A Redis not reachable yet is
    left to the store's fail mode (checked again at the next start)."""
    if not isinstance(store, RedisBudgetStore):
        return
    try:
        await refuse_evicting_policy(store._redis)
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        log.warning("budget store: Redis not reachable at start-up, eviction policy not checked (%s)", exc)
