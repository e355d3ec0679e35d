"""Redis budget store: counters shared by every gateway replica, one Lua script per operation.

Key layout (all under `prefix`):

- `c:<counter_id>` hash, one per budget counter: `t` spending in the window, `lo`
  oldest bucket counted, `R` total reserved, `<bucket index>` spending of that bucket,
  `r:<reservation id>` what that reservation holds. Expires `window + bucket` after its
  last write (end of month + bucket for calendar windows): by then all of it has
  rolled out. The hash existing is the counter's "rebuilt" marker: a counter that is
  absent (Redis restarted empty, flushed, evicted) is rebuilt from the ledger before
  anything is admitted against it, so a restart never hands out a fresh budget.
- `c:<counter_id>:z` sorted set: reservation id -> expiry (epoch seconds), so expired
  reservations give their room back on the next operation on that counter.
- `r:<reservation id>` hash: the counters a reservation holds, read by settle and
  release (so those two scripts touch undeclared keys: standalone Redis, not Cluster).
  Expires after the reservation TTL plus the settle grace period.
- `m:<key>` string: once-per-window marks (soft-threshold events).

When Redis cannot be reached, `fail_closed` raises `BudgetStoreUnavailable` on reserve
and status; `fail_open` admits, remembers locally what was admitted and settled, and
adds it to the surviving counters when Redis answers again. Settles and releases that
fail are queued and replayed in both modes, in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Literal, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.budgets.store import (
    Amount,
    BudgetLimit,
    BudgetStatus,
    BudgetStoreUnavailable,
    RebuildSource,
    ReserveResult,
)
from gateway.budgets.windows import bucket_index, counter_ttl_s, epoch_s, lower_bucket, retry_after_s

log = logging.getLogger("sobria.budgets")

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
FailureMode = Literal["fail_closed", "fail_open"]
T = TypeVar("T")


def _script_text(name: str) -> str:
    folder = resources.files("gateway.budgets") / "lua"
    return (folder / "common.lua").read_text() + "\n" + (folder / f"{name}.lua").read_text()


def _pairs(values: list) -> list[tuple[int, int]]:
    return [(int(values[i]), int(values[i + 1])) for i in range(0, len(values), 2)]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(slots=True)
class _Admitted:
    """A reservation admitted while Redis was unreachable (fail-open)."""

    limits: list[BudgetLimit]
    buckets: list[int]


class RedisBudgetStore:
    """BudgetStore on Redis. `client` should have short socket timeouts (the hot path
    waits on it); `probe_interval_s` is how long to treat Redis as down after a
    failure before trying it again."""

    def __init__(
        self,
        client: Redis,
        prefix: str = "sobria:budget:",
        rebuild_source: RebuildSource | None = None,
        reservation_ttl_s: int = 900,
        settle_grace_s: int = 3600,
        on_unavailable: FailureMode = "fail_closed",
        probe_interval_s: float = 1.0,
        max_pending: int = 100_000,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._rebuild_source = rebuild_source
        self._ttl = reservation_ttl_s
        self._grace = settle_grace_s
        self._mode = on_unavailable
        self._probe_interval = probe_interval_s
        self._down_until = 0.0
        self._down = False
        self._scripts = {
            name: client.register_script(_script_text(name))
            for name in ("reserve", "settle", "release", "status", "rebuild", "apply")
        }
        self._limits_by_reservation: OrderedDict[str, list[BudgetLimit]] = OrderedDict()
        self._max_remembered = max_pending
        self._admitted: dict[str, _Admitted] = {}
        self._pending: deque[tuple] = deque(maxlen=max_pending)
        self._reconcile_lock = asyncio.Lock()

    @property
    def pending(self) -> int:
        """Operations waiting for Redis to come back."""
        return len(self._pending)

    async def reserve(
        self, reservation_id: str, limits: list[BudgetLimit], amount: Amount, now: datetime
    ) -> ReserveResult:
        try:
            self._check_up()
            await self._once_more(self._reconcile_pending)
            return await self._once_more(lambda: self._reserve(reservation_id, limits, amount, now))
        except UNREACHABLE as exc:
            self._mark_down()
            if self._mode == "fail_closed":
                raise BudgetStoreUnavailable("budget counters (Redis) are unreachable") from exc
            now_s = epoch_s(now)
            self._admitted[reservation_id] = _Admitted(limits, [bucket_index(lim, now_s) for lim in limits])
            if len(self._admitted) > self._max_remembered:
                del self._admitted[next(iter(self._admitted))]
            return ReserveResult(granted=True, degraded=True)

    async def settle(self, reservation_id: str, actual: Amount, now: datetime) -> list[BudgetStatus]:
        admitted = self._admitted.pop(reservation_id, None)
        if admitted is not None:
            self._pending.append(("apply", admitted, actual, epoch_s(now)))
            return []
        try:
            self._check_up()
            await self._once_more(self._reconcile_pending)
            totals = await self._once_more(lambda: self._settle(reservation_id, actual))
        except UNREACHABLE:
            self._mark_down()
            self._pending.append(("settle", reservation_id, actual))
            return []
        limits = self._limits_by_reservation.pop(reservation_id, None)
        if limits is None:
            return []
        return [BudgetStatus(lim, t, r) for lim, (t, r) in zip(limits, totals, strict=False) if t >= 0]

    async def release(self, reservation_id: str, now: datetime) -> None:
        if self._admitted.pop(reservation_id, None) is not None:
            return
        self._limits_by_reservation.pop(reservation_id, None)
        try:
            self._check_up()
            await self._once_more(self._reconcile_pending)
            await self._once_more(lambda: self._release(reservation_id))
        except UNREACHABLE:
            self._mark_down()
            self._pending.append(("release", reservation_id))

    async def status(self, limits: list[BudgetLimit], now: datetime) -> list[BudgetStatus]:
        try:
            self._check_up()
            await self._once_more(self._reconcile_pending)
            return await self._once_more(lambda: self._status(limits, now))
        except UNREACHABLE as exc:
            self._mark_down()
            if self._mode == "fail_closed":
                raise BudgetStoreUnavailable("budget counters (Redis) are unreachable") from exc
            return []

    async def mark_once(self, key: str, ttl_s: int, now: datetime) -> bool:
        try:
            self._check_up()
            mark = f"{self._prefix}m:{key}"
            return bool(await self._once_more(lambda: self._redis.set(mark, b"1", nx=True, ex=max(1, ttl_s))))
        except UNREACHABLE:
            self._mark_down()
            return False

    async def reconcile(self) -> int:
        """Replay what was queued while Redis was unreachable; returns how many are left."""
        try:
            await self._once_more(self._reconcile_pending)
        except UNREACHABLE:
            self._mark_down()
        return len(self._pending)

    async def _once_more(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run an idempotent operation, again once on a connection error: after a Redis
        restart the first command on each pooled connection fails."""
        try:
            result = await operation()
        except UNREACHABLE:
            result = await operation()
        if self._down:
            self._down = False
            log.warning("budget store (Redis) reachable again")
        return result

    async def aclose(self) -> None:
        """Replay what can be replayed, then close the Redis connections."""
        await self.reconcile()
        await self._redis.aclose()

    def _check_up(self) -> None:
        if time.monotonic() < self._down_until:
            raise RedisConnectionError("Redis marked down after a recent failure")

    def _mark_down(self) -> None:
        now = time.monotonic()
        if now < self._down_until:
            return  # refused without trying: the window stands, or steady traffic would never probe again
        self._down_until = now + self._probe_interval
        if not self._down:
            self._down = True
            log.error("budget store (Redis) unreachable: %s", self._mode)

    def _counter_key(self, limit: BudgetLimit) -> str:
        return f"{self._prefix}c:{limit.counter_id}"

    def _record_key(self, reservation_id: str) -> str:
        return f"{self._prefix}r:{reservation_id}"

    async def _reserve(
        self, reservation_id: str, limits: list[BudgetLimit], amount: Amount, now: datetime
    ) -> ReserveResult:
        now_s = epoch_s(now)
        keys = [self._record_key(reservation_id)]
        args: list[str | int | float] = [reservation_id, now_s, now_s + self._ttl, self._ttl + self._grace, len(limits)]
        for limit in limits:
            counter = self._counter_key(limit)
            keys += [counter, counter + ":z"]
            args += [
                limit.limit_micro,
                amount.in_unit(limit.unit),
                bucket_index(limit, now_s),
                lower_bucket(limit, now_s),
                counter_ttl_s(limit, now_s),
                limit.unit,
            ]
        for _ in range(3):
            reply = await self._scripts["reserve"](keys=keys, args=args)
            code = int(reply[0])
            if code == 0:
                await self._rebuild([limits[int(i) - 1] for i in reply[1:]], now)
                continue
            if code == 2:
                index = int(reply[1]) - 1
                refused = limits[index]
                flat = reply[3]
                buckets = [
                    (int(name), int(flat[j + 1]))
                    for j in range(0, len(flat), 2)
                    if (name := _text(flat[j])).isdigit()
                ]
                statuses = [BudgetStatus(lim, t, r) for lim, (t, r) in zip(limits, _pairs(reply[2]), strict=True)]
                return ReserveResult(
                    granted=False,
                    statuses=statuses,
                    refused_by=refused,
                    retry_after_s=retry_after_s(
                        refused, buckets, statuses[index].reserved_micro, amount.in_unit(refused.unit), now_s
                    ),
                )
            self._remember(reservation_id, limits)
            statuses = [BudgetStatus(lim, t, r) for lim, (t, r) in zip(limits, _pairs(reply[1:]), strict=True)]
            return ReserveResult(granted=True, statuses=statuses)
        raise BudgetStoreUnavailable("budget counters keep vanishing while being rebuilt")

    async def _settle(self, reservation_id: str, actual: Amount) -> list[tuple[int, int]]:
        reply = await self._scripts["settle"](
            keys=[self._record_key(reservation_id)],
            args=[reservation_id, actual.cost_micro_eur, actual.gwp_ug],
        )
        return _pairs(reply)

    async def _release(self, reservation_id: str) -> None:
        await self._scripts["release"](keys=[self._record_key(reservation_id)], args=[reservation_id])

    async def _status(self, limits: list[BudgetLimit], now: datetime) -> list[BudgetStatus]:
        now_s = epoch_s(now)
        keys: list[str] = []
        args: list[str | int | float] = [now_s, len(limits)]
        for limit in limits:
            counter = self._counter_key(limit)
            keys += [counter, counter + ":z"]
        args += [lower_bucket(limit, now_s) for limit in limits]
        for _ in range(3):
            reply = await self._scripts["status"](keys=keys, args=args)
            if int(reply[0]) == 0:
                await self._rebuild([limits[int(i) - 1] for i in reply[1:]], now)
                continue
            return [BudgetStatus(lim, t, r) for lim, (t, r) in zip(limits, _pairs(reply[1:]), strict=True)]
        raise BudgetStoreUnavailable("budget counters keep vanishing while being rebuilt")

    async def _rebuild(self, limits: list[BudgetLimit], now: datetime) -> None:
        """Seed absent counters with the ledger's spending in their current window."""
        try:
            history = await self._rebuild_source(limits, now) if self._rebuild_source else {}
        except Exception as exc:
            raise BudgetStoreUnavailable("cannot rebuild budget counters from the ledger") from exc
        now_s = epoch_s(now)
        keys: list[str] = []
        args: list[int] = []
        for limit in limits:
            lower = lower_bucket(limit, now_s)
            buckets: dict[int, int] = {}
            for start, spent in history.get(limit, {}).items():
                bucket = start // limit.bucket_seconds
                if bucket >= lower and spent:
                    buckets[bucket] = buckets.get(bucket, 0) + spent
            keys.append(self._counter_key(limit))
            args += [lower, counter_ttl_s(limit, now_s), len(buckets)]
            for bucket, spent in buckets.items():
                args += [bucket, spent]
        created = await self._scripts["rebuild"](keys=keys, args=args)
        if created:
            log.info("rebuilt %s budget counter(s) from the ledger", created)

    async def _reconcile_pending(self) -> None:
        if not self._pending:
            return
        async with self._reconcile_lock:
            while self._pending:
                operation = self._pending[0]
                kind = operation[0]
                if kind == "settle":
                    await self._settle(operation[1], operation[2])
                    self._limits_by_reservation.pop(operation[1], None)
                elif kind == "release":
                    await self._release(operation[1])
                else:
                    await self._apply(operation[1], operation[2], operation[3])
                self._pending.popleft()

    async def _apply(self, admitted: _Admitted, actual: Amount, now_s: float) -> None:
        keys: list[str] = []
        args: list[int] = []
        for limit, bucket in zip(admitted.limits, admitted.buckets, strict=True):
            spent = actual.in_unit(limit.unit)
            if spent:
                keys.append(self._counter_key(limit))
                args += [bucket, spent, counter_ttl_s(limit, now_s)]
        if keys:
            await self._scripts["apply"](keys=keys, args=args)

    def _remember(self, reservation_id: str, limits: list[BudgetLimit]) -> None:
        remembered = self._limits_by_reservation
        remembered[reservation_id] = limits
        if len(remembered) > self._max_remembered:
            remembered.popitem(last=False)
