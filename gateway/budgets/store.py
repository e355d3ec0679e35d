"""The budget store interface: reserve, settle and release amounts on several scopes.

Amounts are integers in micro-units (micro-euros, micro-grams CO2e) so that every
store adds them exactly. A reservation touches every applicable budget at once or
none of them; settle and release are idempotent per reservation id. A reservation
that is neither settled nor released gives its room back after the store's
reservation TTL, so a crashed gateway cannot hold budget forever.

A store meets a budget it has no counters for (first use, restarted process, Redis
flushed or evicted) by asking its `RebuildSource` for that budget's spending per
bucket from the ledger before admitting anything against it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

EUR = "eur"
GCO2E = "gco2e"
ROLLING = "rolling"
CALENDAR_MONTH = "calendar_month"


@dataclass(frozen=True, slots=True)
class BudgetLimit:
    """One budget: a scope (e.g. "employee:<pseudonym>", "department:finance",
    "use_case:translation", "org"), a currency ("eur" or "gco2e"), a limit in
    micro-units, and its window."""

    scope: str
    unit: str
    limit_micro: int
    window: str = ROLLING
    window_seconds: int = 30 * 24 * 3600
    bucket_seconds: int = 3600
    counter_id: str = field(init=False, repr=False, compare=False)
    """Identity of the spending counter: the limit itself may change, the counter stays."""

    def __post_init__(self) -> None:
        if self.window == CALENDAR_MONTH:
            counter_id = f"{self.scope}|{self.unit}|month|{self.bucket_seconds}"
        else:
            counter_id = f"{self.scope}|{self.unit}|rolling|{self.window_seconds}|{self.bucket_seconds}"
        object.__setattr__(self, "counter_id", counter_id)


@dataclass(frozen=True, slots=True)
class Amount:
    """Money and carbon of one request, in micro-units."""

    cost_micro_eur: int
    gwp_ug: int

    def in_unit(self, unit: str) -> int:
        return self.cost_micro_eur if unit == EUR else self.gwp_ug


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """Spending and what remains on one budget at one instant."""

    limit: BudgetLimit
    spent_micro: int
    reserved_micro: int

    @property
    def remaining_micro(self) -> int:
        return max(0, self.limit.limit_micro - self.spent_micro - self.reserved_micro)


@dataclass(frozen=True, slots=True)
class ReserveResult:
    """Outcome of a reservation: granted on every budget, or refused by `refused_by`.

    `statuses` hold every budget after the reservation when granted; when refused,
    they hold what was known when the refusal was decided. `degraded` is true when a
    fail-open store admitted without its shared counters."""

    granted: bool
    statuses: list[BudgetStatus] = field(default_factory=list)
    refused_by: BudgetLimit | None = None
    retry_after_s: int | None = None
    degraded: bool = False


class BudgetStoreUnavailable(RuntimeError):
    """The shared counters cannot be reached and the store is configured to fail closed."""


RebuildSource = Callable[[list[BudgetLimit], datetime], Awaitable[dict[BudgetLimit, dict[int, int]]]]
"""Spending per budget and per bucket start (epoch seconds) in each budget's current
window, read from the ledger. Budgets with no spending may be left out."""


class BudgetStore(Protocol):
    """Contract shared by the in-process and Redis stores."""

    async def reserve(
        self, reservation_id: str, limits: list[BudgetLimit], amount: Amount, now: datetime
    ) -> ReserveResult: ...

    async def settle(self, reservation_id: str, actual: Amount, now: datetime) -> list[BudgetStatus]: ...

    async def release(self, reservation_id: str, now: datetime) -> None: ...

    async def renew(self, reservation_id: str, now: datetime) -> bool:
        """Keep a reservation held for another TTL (a stream still running); False if unknown."""
        ...

    async def status(self, limits: list[BudgetLimit], now: datetime) -> list[BudgetStatus]: ...

    async def mark_once(self, key: str, ttl_s: int, now: datetime) -> bool:
        """True the first time `key` is marked within `ttl_s` (shared by all replicas)."""
        ...
