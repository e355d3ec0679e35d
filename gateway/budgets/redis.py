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

- `alive` string: Redis time at which this Redis was first seen empty by a rebuild.
- `rebuilt` string: the epoch of the last rebuild that created a counter.

One clock: reservations expire on Redis's `TIME`, never on a replica's clock, and a
stream renews its reservation while it runs (`renew`).

A Redis loss loses no spending. Every counter a rebuild creates carries a new epoch.
Each replica remembers what it holds in flight and what it has settled but its ledger
writer has not yet written, with the epoch of each counter it was counted under; a
watcher reads the `rebuilt` key a few times a second and, when it moved (or something
was counted under an unexpected epoch), compares those epochs with Redis's and, on a
counter rebuilt since, re-applies its holds and that unwritten spending, exactly once
(idempotent by request id, see hold.lua and reapply.lua). Spending whose ledger write
returned before the rebuild read the ledger is not re-applied: the rebuild counted it.
Right after Redis comes back empty, new counters admit nothing for `rebuild_grace_s`
so that every replica has re-applied before anyone admits against them.

When Redis cannot be reached, `fail_closed` raises `BudgetStoreUnavailable` on reserve
and status; `fail_open` admits within a local allowance per budget (the budget's last
known remaining room, or its limit, divided by `fail_open_replicas`), remembers locally
what was admitted and settled, and adds it to the surviving counters when Redis answers
again. Settles and releases that fail are queued and replayed in both modes, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Literal, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.budgets.loop_lag import LoopLag
from gateway.budgets.store import (
    Amount,
    BudgetLimit,
    BudgetStatus,
    BudgetStoreUnavailable,
    RebuildSource,
    ReserveResult,
)
from gateway.budgets.windows import (
    bucket_index,
    counter_ttl_s,
    epoch_s,
    lower_bucket,
    retry_after_s,
)

log = logging.getLogger("sobria.budgets")

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
FailureMode = Literal["fail_closed", "fail_open"]
T = TypeVar("T")

#: How far apart this replica's estimate of Redis time and Redis's own may be; a write
#: closer than this to a rebuild is re-applied (counted twice rather than lost).
WRITE_CLOCK_MARGIN_S = 0.05


def _pool_exhausted(error: BaseException) -> bool:
    """No free connection in this worker's pool: redis-py's default pool raises
    `MaxConnectionsError`, the blocking pool a `ConnectionError` from its wait's timeout."""
    if isinstance(error, MaxConnectionsError):
        return True
    return isinstance(error, RedisConnectionError) and isinstance(error.__cause__, asyncio.TimeoutError)


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
    amount: Amount | None = None


@dataclass(slots=True)
class _Counted:
    """A hold in flight, or spending settled but not yet in the ledger, as this replica
    counted it: the epoch of each counter it was counted under ('' = not counted there)."""

    limits: list[BudgetLimit]
    buckets: list[int]
    amount: Amount
    epochs: list[str]
    keys: tuple[str, ...]
    """The Redis key of each counter, in `limits` order (the watcher reads them often)."""
    written_at: float | None = None  # this replica's clock when the ledger write returned


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
        fail_open_replicas: int = 1,
        rebuild_grace_s: float = 1.0,
        watch_interval_s: float = 0.2,
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
        self._timeout_s = float(client.connection_pool.connection_kwargs.get("socket_timeout") or 1.0)
        self._loop_lag = LoopLag()
        self._late_logged = 0.0
        self._scripts = {
            name: client.register_script(_script_text(name))
            for name in ("reserve", "settle", "release", "status", "rebuild", "apply", "renew", "hold", "reapply",
                         "epochs")
        }
        self._replicas = max(1, fail_open_replicas)
        self._grace_s = rebuild_grace_s
        self._watch_interval = watch_interval_s
        self._holds: dict[str, _Counted] = {}
        self._unwritten: OrderedDict[str, _Counted] = OrderedDict()
        self._seen_epochs: dict[str, str] = {}
        """Each counter's epoch at the last full resync: everything counted agrees with it."""
        self._seen_rebuilt: str | None = None
        """The `rebuilt` key at the last full resync (None: no full resync yet)."""
        self._resync_needed = True
        """Something was counted under an epoch other than `_seen_epochs` since then."""
        self._resyncing = False
        self._seeding: dict[str, asyncio.Future[None]] = {}
        """Counter key -> the seeding of it under way in this replica (see `_rebuild`)."""
        self._clock_offset = 0.0
        self._watcher: asyncio.Task[None] | None = None
        self._outage_used: dict[str, int] = {}
        self._last_remaining: dict[str, int] = {}
        self.reapplied = 0
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
        self._start_watching()
        try:
            self._check_up()
            await self._once_more(self._reconcile_pending)
            return await self._once_more(lambda: self._reserve(reservation_id, limits, amount, now))
        except UNREACHABLE as exc:
            self._mark_down(exc)
            if self._mode == "fail_closed":
                raise BudgetStoreUnavailable("budget counters (Redis) are unreachable") from exc
            return self._admit_locally(reservation_id, limits, amount, now)

    def fail_open_allowance(self, limit: BudgetLimit) -> int:
        """What this replica may admit on a budget while Redis is unreachable."""
        room = self._last_remaining.get(limit.counter_id, limit.limit_micro)
        return min(room, limit.limit_micro) // self._replicas

    def _admit_locally(
        self, reservation_id: str, limits: list[BudgetLimit], amount: Amount, now: datetime
    ) -> ReserveResult:
        """Fail-open: admit within the local allowance of every budget, or refuse."""
        for limit in limits:
            used = self._outage_used.get(limit.counter_id, 0)
            if used + amount.in_unit(limit.unit) > self.fail_open_allowance(limit):
                status = BudgetStatus(limit, 0, used)
                return ReserveResult(
                    granted=False, statuses=[status], refused_by=limit,
                    retry_after_s=max(1, int(self._probe_interval)), degraded=True,
                )
        for limit in limits:
            self._outage_used[limit.counter_id] = self._outage_used.get(limit.counter_id, 0) + amount.in_unit(limit.unit)
        now_s = epoch_s(now)
        self._admitted[reservation_id] = _Admitted(limits, [bucket_index(lim, now_s) for lim in limits], amount)
        if len(self._admitted) > self._max_remembered:
            del self._admitted[next(iter(self._admitted))]
        return ReserveResult(granted=True, degraded=True)

    def _unuse_locally(self, admitted: _Admitted, actual: Amount | None) -> None:
        """Replace an admitted reservation's local use by what it actually spent (None: released)."""
        if admitted.amount is None:
            return
        for limit in admitted.limits:
            delta = (actual.in_unit(limit.unit) if actual else 0) - admitted.amount.in_unit(limit.unit)
            self._outage_used[limit.counter_id] = self._outage_used.get(limit.counter_id, 0) + delta

    async def settle(self, reservation_id: str, actual: Amount, now: datetime) -> list[BudgetStatus]:
        admitted = self._admitted.pop(reservation_id, None)
        if admitted is not None:
            self._unuse_locally(admitted, actual)
            self._pending.append(("apply", admitted, actual, epoch_s(now)))
            return []
        held = self._holds.pop(reservation_id, None)
        try:
            self._check_up()
            await self._once_more(self._reconcile_pending)
            totals, epochs = await self._once_more(lambda: self._settle(reservation_id, actual))
        except UNREACHABLE as exc:
            self._mark_down(exc)
            self._pending.append(("settle", reservation_id, actual))
            return []
        if held is not None:
            # Not in the ledger until the writer says so; a hold Redis lost ('' epochs) is
            # counted by the watcher once its counters exist again.
            self._remember_unwritten(
                reservation_id, self._counted(held.limits, held.buckets, actual, epochs or [""] * len(held.limits), held.keys)
            )
        limits = self._limits_by_reservation.pop(reservation_id, None)
        if limits is None:
            return []
        return [BudgetStatus(lim, t, r) for lim, (t, r) in zip(limits, totals, strict=False) if t >= 0]

    async def renew(self, reservation_id: str, now: datetime) -> bool:
        """Keep a running request's reservation held for another TTL (Redis's clock)."""
        if reservation_id in self._admitted:
            return True
        try:
            self._check_up()
            reply = await self._once_more(
                lambda: self._scripts["renew"](
                    keys=[self._record_key(reservation_id)], args=[reservation_id, self._ttl, self._ttl + self._grace]
                )
            )
        except UNREACHABLE as exc:
            self._mark_down(exc)
            return False
        return bool(int(reply))

    def written(self, request_ids: list[str]) -> None:
        """The ledger writer has these records in the database: the next rebuild reads them."""
        at = time.time()
        for request_id in request_ids:
            counted = self._unwritten.get(request_id)
            if counted is not None and counted.written_at is None:
                counted.written_at = at

    def _counted(
        self, limits: list[BudgetLimit], buckets: list[int], amount: Amount, epochs: list[str], keys: tuple[str, ...]
    ) -> _Counted:
        """A hold or unwritten spending as counted now; flags the watcher when one of its
        epochs is not the one the last full resync saw."""
        if self._resyncing:
            self._resync_needed = True  # counted while a resync compares: it may have missed this
        elif not self._resync_needed:
            seen = self._seen_epochs
            if any(seen.get(key, epoch) != epoch for key, epoch in zip(keys, epochs, strict=True)):
                self._resync_needed = True
        return _Counted(limits, buckets, amount, epochs, keys)

    def _remember_unwritten(self, request_id: str, counted: _Counted) -> None:
        self._unwritten[request_id] = counted
        while len(self._unwritten) > self._max_remembered:
            self._unwritten.popitem(last=False)

    async def release(self, reservation_id: str, now: datetime) -> None:
        admitted = self._admitted.pop(reservation_id, None)
        if admitted is not None:
            self._unuse_locally(admitted, None)
            return
        self._holds.pop(reservation_id, None)
        self._limits_by_reservation.pop(reservation_id, None)
        try:
            self._check_up()
            await self._once_more(self._reconcile_pending)
            await self._once_more(lambda: self._release(reservation_id))
        except UNREACHABLE as exc:
            self._mark_down(exc)
            self._pending.append(("release", reservation_id))

    async def status(self, limits: list[BudgetLimit], now: datetime) -> list[BudgetStatus]:
        try:
            self._check_up()
            await self._once_more(self._reconcile_pending)
            return await self._once_more(lambda: self._status(limits, now))
        except UNREACHABLE as exc:
            self._mark_down(exc)
            if self._mode == "fail_closed":
                raise BudgetStoreUnavailable("budget counters (Redis) are unreachable") from exc
            return []

    async def mark_once(self, key: str, ttl_s: int, now: datetime) -> bool:
        try:
            self._check_up()
            mark = f"{self._prefix}m:{key}"
            return bool(await self._once_more(lambda: self._redis.set(mark, b"1", nx=True, ex=max(1, ttl_s))))
        except UNREACHABLE as exc:
            self._mark_down(exc)
            return False

    async def reconcile(self) -> int:
        """Replay what was queued while Redis was unreachable; returns how many are left."""
        try:
            await self._once_more(self._reconcile_pending)
        except UNREACHABLE as exc:
            self._mark_down(exc)
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
        self._loop_lag.stop()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self.reconcile()
        await self._redis.aclose()

    def _check_up(self) -> None:
        if time.monotonic() < self._down_until:
            raise RedisConnectionError("Redis marked down after a recent failure")

    def _mark_down(self, error: BaseException) -> None:
        """Treat Redis as down for `probe_interval_s`, unless `error` says this worker,
        not Redis, is saturated: its connection pool was exhausted, or the call timed out
        while the event loop ran late by half the timeout or more (the reply may well have
        been waiting unread). Such a call fails alone (refused, fail-closed) and the next
        one tries Redis again; a timeout while the loop was on time, and every other
        connection error, still mark Redis down."""
        if _pool_exhausted(error) or (
            isinstance(error, RedisTimeoutError) and self._loop_lag.late_s(2 * self._timeout_s) >= self._timeout_s / 2
        ):
            now = time.monotonic()
            if now - self._late_logged > 10:
                self._late_logged = now
                log.warning("a budget call to Redis failed while this worker was saturated (%s: %s): that call "
                            "failed, Redis is not marked down", type(error).__name__, error)
            return
        now = time.monotonic()
        if now < self._down_until:
            return  # refused without trying: the window stands, or steady traffic would never probe again
        self._down_until = now + self._probe_interval
        if not self._down:
            self._down = True
            log.error("budget store (Redis) unreachable: %s (%s: %s)", self._mode, type(error).__name__, error)

    def _counter_key(self, limit: BudgetLimit) -> str:
        return f"{self._prefix}c:{limit.counter_id}"

    def _record_key(self, reservation_id: str) -> str:
        return f"{self._prefix}r:{reservation_id}"

    async def _reserve(
        self, reservation_id: str, limits: list[BudgetLimit], amount: Amount, now: datetime
    ) -> ReserveResult:
        now_s = epoch_s(now)
        keys = [self._record_key(reservation_id)]
        args: list[str | int | float] = [reservation_id, now_s, self._ttl, self._ttl + self._grace, len(limits)]
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
        rebuilds, waited_s = 0, 0.0
        while True:
            reply = await self._scripts["reserve"](keys=keys, args=args)
            code = int(reply[0])
            if code == 0:
                rebuilds += 1
                if rebuilds > 3:
                    break
                await self._rebuild([limits[int(i) - 1] for i in reply[1:]], now)
                continue
            if code == 4:  # counters just rebuilt: replicas are re-applying their holds
                pause_s = min(max(int(reply[1]) / 1000, 0.001), self._grace_s + self._watch_interval)
                waited_s += pause_s
                if waited_s > 5 * max(self._grace_s, self._watch_interval):
                    break
                await asyncio.sleep(pause_s)
                continue
            if code == 2:
                index = int(reply[1]) - 1
                refused = limits[index]
                for limit, (spent, reserved) in zip(limits, _pairs(reply[2]), strict=True):
                    self._last_remaining[limit.counter_id] = max(0, limit.limit_micro - spent - reserved)
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
            count = len(limits)
            statuses = [
                BudgetStatus(lim, t, r) for lim, (t, r) in zip(limits, _pairs(reply[1 : 1 + 2 * count]), strict=True)
            ]
            epochs = [_text(e) for e in reply[1 + 2 * count :]]
            self._holds[reservation_id] = self._counted(
                limits, [bucket_index(lim, now_s) for lim in limits], amount, epochs + [""] * (count - len(epochs)),
                tuple(keys[1::2]),  # the counters, each followed by its sorted set
            )
            for status in statuses:
                self._last_remaining[status.limit.counter_id] = status.remaining_micro
            return ReserveResult(granted=True, statuses=statuses)
        raise BudgetStoreUnavailable("budget counters keep vanishing while being rebuilt")

    async def _settle(self, reservation_id: str, actual: Amount) -> tuple[list[tuple[int, int]], list[str]]:
        """Totals per counter and the epoch each was settled under ([] when Redis had no record)."""
        reply = await self._scripts["settle"](
            keys=[self._record_key(reservation_id)],
            args=[reservation_id, actual.cost_micro_eur, actual.gwp_ug],
        )
        count = len(reply) // 3
        return _pairs(reply[: 2 * count]), [_text(e) for e in reply[2 * count :]]

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
        """Seed absent counters with the ledger's spending in their current window.

        A counter another request of this replica is already seeding is waited for, not
        seeded again: after a flush, 64 requests of one department would otherwise each
        send the department's and the organisation's whole window (720 hourly buckets
        apiece) to Redis. Whatever that seeding's outcome, the caller reserves again and
        seeds what is still absent itself."""
        mine: list[BudgetLimit] = []
        keys: list[str] = []
        theirs: set[asyncio.Future[None]] = set()
        for limit in limits:
            key = self._counter_key(limit)
            pending = self._seeding.get(key)
            if pending is None:
                mine.append(limit)
                keys.append(key)
            else:
                theirs.add(pending)
        if mine:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            for key in keys:
                self._seeding[key] = done
            try:
                await self._seed(mine, now)
            finally:
                for key in keys:
                    if self._seeding.get(key) is done:
                        del self._seeding[key]
                done.set_result(None)
        for pending in theirs:
            await asyncio.shield(pending)

    async def _seed(self, limits: list[BudgetLimit], now: datetime) -> None:
        started = await self._redis_time()  # before the read: spending written before it is in it
        try:
            history = await self._rebuild_source(limits, now) if self._rebuild_source else {}
        except Exception as exc:
            raise BudgetStoreUnavailable("cannot rebuild budget counters from the ledger") from exc
        now_s = epoch_s(now)
        keys: list[str] = []
        args: list[int | float | str] = [uuid.uuid4().hex[:16], started, self._grace_s]
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
        keys += [self._prefix + "alive", self._prefix + "rebuilt"]
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
                    held = self._holds.pop(operation[1], None)
                    _, epochs = await self._settle(operation[1], operation[2])
                    if held is not None:
                        counted = self._counted(held.limits, held.buckets, operation[2],
                                                epochs or [""] * len(held.limits), held.keys)
                        self._remember_unwritten(operation[1], counted)
                    self._limits_by_reservation.pop(operation[1], None)
                elif kind == "release":
                    await self._release(operation[1])
                else:
                    await self._apply(operation[1], operation[2], operation[3])
                self._pending.popleft()
            if not self._admitted:
                self._outage_used.clear()  # the outage is reconciled: the shared counters rule again

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

    # -- after a Redis loss: re-apply what this replica counted -------------------------

    async def _redis_time(self) -> float:
        seconds, micros = await self._redis.time()
        now = float(seconds) + micros / 1_000_000
        self._clock_offset = now - time.time()
        return now

    def _start_watching(self) -> None:
        self._loop_lag.start()
        if self._watcher is None or self._watcher.done():
            with contextlib.suppress(RuntimeError):
                self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="sobria-budget-epochs")

    async def _watch(self) -> None:
        """Re-apply holds after rebuilds, every watch interval, until cancelled.

        A cancellation that reaches the task while redis-py is inside a call can come out of
        that call swallowed (seen with a client closed under the watcher: the task stayed
        `cancelling` and looped for ever, hanging the event loop's shutdown), so the loop
        also ends as soon as its task has been asked to stop."""
        task = asyncio.current_task()
        while task is None or not task.cancelling():
            await asyncio.sleep(self._watch_interval)
            if time.monotonic() < self._down_until:
                continue
            try:
                await self.resync()
            except UNREACHABLE as exc:
                self._mark_down(exc)
            except Exception:
                log.warning("budget store: could not re-apply holds after a rebuild", exc_info=True)

    async def resync(self) -> int:
        """Re-apply, exactly once, every hold and unwritten spending of this replica to the
        counters rebuilt since it was counted there; returns how many were re-applied.

        Most calls read one key: when no counter was rebuilt since the last full resync
        (the `rebuilt` key has not moved) and everything counted since agreed with the
        epochs that resync saw, nothing can be stale. Otherwise every counter held here is
        read in one script call and compared."""
        now = await self._redis_time()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._prefix + "alive", f"{now:.6f}", nx=True)
            pipe.get(self._prefix + "rebuilt")
            _, rebuilt_raw = await pipe.execute()
        rebuilt = _text(rebuilt_raw) if rebuilt_raw else ""
        offset = self._clock_offset  # measured just now: local clock -> Redis clock
        for request_id in [
            r for r, c in self._unwritten.items() if c.written_at is not None and now - (c.written_at + offset) > 30
        ]:
            del self._unwritten[request_id]
        if not self._resync_needed and rebuilt == self._seen_rebuilt:
            return 0
        self._resync_needed = False  # anything counted from here on under another epoch sets it again
        self._resyncing = True
        try:
            done = await self._resync_all(rebuilt, offset)
        except BaseException:
            self._resync_needed = True
            raise
        finally:
            self._resyncing = False
        return done

    async def _resync_all(self, rebuilt: str, offset: float) -> int:
        """Compare every hold and unwritten spending with its counters' epochs; re-apply the stale."""
        items = [(rid, c, True) for rid, c in list(self._holds.items())]
        items += [(rid, c, False) for rid, c in list(self._unwritten.items())]
        keys = sorted(set().union(*(counted.keys for _, counted, _ in items)))
        replies = await self._scripts["epochs"](keys=keys, args=[]) if keys else []
        current = {key: (_text(e), float(rt) if rt else 0.0) for key, (e, rt) in zip(keys, replies, strict=True)}
        done = await self._reapply_stale(items, current, offset)
        self._seen_epochs = {key: epoch for key, (epoch, _) in current.items()}
        self._seen_rebuilt = rebuilt
        return done

    async def _reapply_stale(
        self, items: list[tuple[str, _Counted, bool]], current: dict[str, tuple[str, float]], offset: float
    ) -> int:
        """Re-apply each hold and unwritten spending counted under an epoch its counter no
        longer has; returns how many were re-applied."""
        done = 0
        for request_id, counted, is_hold in items:
            stale = [
                i for i, key in enumerate(counted.keys) if current[key][0] and current[key][0] != counted.epochs[i]
            ]
            if not stale:
                continue
            if is_hold:
                if request_id not in self._holds:
                    continue
                counted.epochs = await self._hold_again(request_id, counted)
            else:
                rebuilt_after_write = [
                    i for i in stale
                    if counted.written_at is not None
                    and counted.written_at + offset + WRITE_CLOCK_MARGIN_S < current[counted.keys[i]][1]
                ]
                for i in rebuilt_after_write:  # the rebuild read this spending from the ledger
                    counted.epochs[i] = current[counted.keys[i]][0]
                stale = [i for i in stale if i not in rebuilt_after_write]
                if not stale:
                    continue
                epochs = await self._reapply(request_id, counted, stale)
                for i, epoch in zip(stale, epochs, strict=True):
                    counted.epochs[i] = epoch
            done += 1
        if done:
            self.reapplied += done
            log.warning("budget counters rebuilt: re-applied %d hold(s) and unwritten spending of this replica", done)
        return done

    async def _hold_again(self, reservation_id: str, counted: _Counted) -> list[str]:
        now_s = time.time() + self._clock_offset
        keys = [self._record_key(reservation_id)]
        args: list[str | int] = [reservation_id, self._ttl, self._ttl + self._grace, len(counted.limits)]
        for limit, bucket in zip(counted.limits, counted.buckets, strict=True):
            counter = self._counter_key(limit)
            keys += [counter, counter + ":z"]
            args += [counted.amount.in_unit(limit.unit), bucket, counter_ttl_s(limit, now_s), limit.unit]
        reply = await self._scripts["hold"](keys=keys, args=args)
        return [_text(e) for e in reply]

    async def _reapply(self, request_id: str, counted: _Counted, indexes: list[int]) -> list[str]:
        now_s = time.time() + self._clock_offset
        keys: list[str] = []
        args: list[str | int] = [request_id]
        for i in indexes:
            limit = counted.limits[i]
            keys.append(self._counter_key(limit))
            args += [counted.buckets[i], counted.amount.in_unit(limit.unit), counter_ttl_s(limit, now_s)]
        reply = await self._scripts["reapply"](keys=keys, args=args)
        return [_text(e) for e in reply]
