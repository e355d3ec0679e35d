"""In-process budget store: the embedded default for a single gateway process.

Every operation's critical section is plain synchronous Python with no `await`, so on
one event loop it is atomic without a lock. Counters keep a running total and drop
buckets as the window moves, so an operation costs O(number of budgets) amortised.
A counter never seen before (fresh process) is first rebuilt from the ledger.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime

from gateway.budgets.store import (
    ROLLING,
    Amount,
    BudgetLimit,
    BudgetStatus,
    RebuildSource,
    ReserveResult,
)
from gateway.budgets.windows import (
    bucket_index,
    buckets_in_window,
    epoch_s,
    lower_bucket,
    retry_after_s,
)


@dataclass(slots=True)
class _Counter:
    """Spending per bucket of one budget's window, with its running total."""

    lo: int
    rolling_span: int
    """Buckets in a rolling window; 0 for a calendar month."""
    total: int = 0
    reserved: int = 0
    buckets: dict[int, int] = field(default_factory=dict)

    def trim(self, limit: BudgetLimit, now_s: float) -> None:
        """Forget the buckets that have left the window at `now_s`."""
        if self.rolling_span:
            lower = int(now_s // limit.bucket_seconds) - self.rolling_span + 1
        else:
            lower = lower_bucket(limit, now_s)
        if lower <= self.lo:
            return
        if lower - self.lo > len(self.buckets):
            old = [b for b in self.buckets if b < lower]
        else:
            old = [b for b in range(self.lo, lower) if b in self.buckets]
        for b in old:
            self.total -= self.buckets.pop(b)
        self.lo = lower


@dataclass(slots=True)
class _Hold:
    """What one reservation holds on one counter."""

    counter: _Counter
    limit: BudgetLimit
    amount: int
    bucket: int


@dataclass(slots=True)
class _Reservation:
    holds: list[_Hold]
    expires_at: float
    forget_at: float
    held: bool = True

    def unhold(self) -> None:
        if self.held:
            for hold in self.holds:
                hold.counter.reserved -= hold.amount
            self.held = False


class InMemoryBudgetStore:
    """BudgetStore kept in this process's memory.

    `reservation_ttl_s`: after it, an unsettled reservation gives its room back.
    `settle_grace_s`: how long after that a late settle still records the spending."""

    def __init__(
        self,
        rebuild_source: RebuildSource | None = None,
        reservation_ttl_s: int = 900,
        settle_grace_s: int = 3600,
    ) -> None:
        self._rebuild_source = rebuild_source
        self._ttl = reservation_ttl_s
        self._grace = settle_grace_s
        self._counters: dict[str, _Counter] = {}
        self._reservations: dict[str, _Reservation] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._marks: dict[str, float] = {}

    async def reserve(
        self, reservation_id: str, limits: list[BudgetLimit], amount: Amount, now: datetime
    ) -> ReserveResult:
        known = self._counters
        if any(limit.counter_id not in known for limit in limits):
            await self._ensure(limits, now)
        counters = [known[limit.counter_id] for limit in limits]
        now_s = epoch_s(now)
        self._expire(now_s)
        existing = self._reservations.get(reservation_id)
        if existing is not None:
            return ReserveResult(True, [self._status(h.limit, h.counter) for h in existing.holds])
        for limit, counter in zip(limits, counters, strict=True):
            counter.trim(limit, now_s)
            need = amount.in_unit(limit.unit)
            if counter.total + counter.reserved + need > limit.limit_micro:
                return ReserveResult(
                    granted=False,
                    statuses=[self._status(lim, c) for lim, c in zip(limits, counters, strict=True)],
                    refused_by=limit,
                    retry_after_s=retry_after_s(
                        limit, counter.buckets.items(), counter.reserved, need, now_s
                    ),
                )
        holds = []
        for limit, counter in zip(limits, counters, strict=True):
            need = amount.in_unit(limit.unit)
            counter.reserved += need
            holds.append(_Hold(counter, limit, need, bucket_index(limit, now_s)))
        expires_at = now_s + self._ttl
        self._reservations[reservation_id] = _Reservation(holds, expires_at, expires_at + self._grace)
        heapq.heappush(self._deadlines, (expires_at, reservation_id))
        return ReserveResult(True, [self._status(h.limit, h.counter) for h in holds])

    async def settle(self, reservation_id: str, actual: Amount, now: datetime) -> list[BudgetStatus]:
        now_s = epoch_s(now)
        self._expire(now_s)
        reservation = self._reservations.pop(reservation_id, None)
        if reservation is None:
            return []
        reservation.unhold()
        for hold in reservation.holds:
            counter = hold.counter
            counter.trim(hold.limit, now_s)
            spent = actual.in_unit(hold.limit.unit)
            if hold.bucket >= counter.lo and spent:
                counter.buckets[hold.bucket] = counter.buckets.get(hold.bucket, 0) + spent
                counter.total += spent
        return [self._status(h.limit, h.counter) for h in reservation.holds]

    async def renew(self, reservation_id: str, now: datetime) -> bool:
        reservation = self._reservations.get(reservation_id)
        if reservation is None or not reservation.held:
            return False
        reservation.expires_at = epoch_s(now) + self._ttl
        reservation.forget_at = reservation.expires_at + self._grace
        heapq.heappush(self._deadlines, (reservation.expires_at, reservation_id))
        return True

    async def release(self, reservation_id: str, now: datetime) -> None:
        self._expire(epoch_s(now))
        reservation = self._reservations.pop(reservation_id, None)
        if reservation is not None:
            reservation.unhold()

    async def status(self, limits: list[BudgetLimit], now: datetime) -> list[BudgetStatus]:
        await self._ensure(limits, now)
        now_s = epoch_s(now)
        self._expire(now_s)
        statuses = []
        for limit in limits:
            counter = self._counters[limit.counter_id]
            counter.trim(limit, now_s)
            statuses.append(self._status(limit, counter))
        return statuses

    async def mark_once(self, key: str, ttl_s: int, now: datetime) -> bool:
        now_s = epoch_s(now)
        until = self._marks.get(key)
        if until is not None and until > now_s:
            return False
        if len(self._marks) > 10_000:
            self._marks = {k: t for k, t in self._marks.items() if t > now_s}
        self._marks[key] = now_s + ttl_s
        return True

    async def _ensure(self, limits: list[BudgetLimit], now: datetime) -> None:
        """Create the counters not seen yet, from the ledger when a source is given."""
        missing = [limit for limit in limits if limit.counter_id not in self._counters]
        if not missing:
            return
        history = await self._rebuild_source(missing, now) if self._rebuild_source else {}
        now_s = epoch_s(now)
        for limit in missing:
            if limit.counter_id in self._counters:
                continue
            lower = lower_bucket(limit, now_s)
            span = buckets_in_window(limit) if limit.window == ROLLING else 0
            counter = _Counter(lo=lower, rolling_span=span)
            for start, spent in history.get(limit, {}).items():
                bucket = start // limit.bucket_seconds
                if bucket >= lower and spent:
                    counter.buckets[bucket] = counter.buckets.get(bucket, 0) + spent
                    counter.total += spent
            self._counters[limit.counter_id] = counter

    def _expire(self, now_s: float) -> None:
        """Give back the room of expired reservations; forget them after the grace period."""
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now_s:
            _, reservation_id = heapq.heappop(deadlines)
            reservation = self._reservations.get(reservation_id)
            if reservation is None:
                continue
            if reservation.held and reservation.expires_at <= now_s:
                reservation.unhold()
                heapq.heappush(deadlines, (reservation.forget_at, reservation_id))
            elif not reservation.held and reservation.forget_at <= now_s:
                del self._reservations[reservation_id]

    @staticmethod
    def _status(limit: BudgetLimit, counter: _Counter) -> BudgetStatus:
        return BudgetStatus(limit, counter.total, counter.reserved)
