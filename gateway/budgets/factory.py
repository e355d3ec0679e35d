"""Build the budget store the settings ask for: Redis when a URL is given, else in-process."""

from __future__ import annotations

from redis.asyncio import Redis

from gateway.budgets.config import BudgetsConfig
from gateway.budgets.memory import InMemoryBudgetStore
from gateway.budgets.redis import RedisBudgetStore
from gateway.budgets.store import BudgetStore, RebuildSource


def build_store(config: BudgetsConfig, redis_url: str | None, rebuild_source: RebuildSource | None) -> BudgetStore:
    """The store for this gateway; both kinds rebuild unseen counters from `rebuild_source`."""
    if not redis_url:
        return InMemoryBudgetStore(rebuild_source, config.reservation_ttl_s, config.settle_grace_s)
    client = Redis.from_url(
        redis_url,
        socket_timeout=config.redis_timeout_s,
        socket_connect_timeout=config.redis_timeout_s,
    )
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
