"""The budget store interface: reserve, settle and release amounts on several scopes.

Amounts are integers in micro-units (micro-euros, micro-grams CO2e) so that every
store adds them exactly. A reservation touches every applicable budget at once or
none of them; settle and release are idempotent per reservation id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BudgetLimit:
    """One budget: a scope (e.g. "employee:<pseudonym>", "department:finance",
    "use_case:translation", "org"), a currency ("eur" or "gco2e"), a limit in
    micro-units, and its window."""

    scope: str
    unit: str
    limit_micro: int
    window: str = "rolling"
    window_seconds: int = 30 * 24 * 3600
    bucket_seconds: int = 3600


@dataclass(frozen=True, slots=True)
class Amount:
    """Money and carbon of one request, in micro-units."""

    cost_micro_eur: int
    gwp_ug: int


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
    """Outcome of a reservation: granted on every budget, or refused by `refused_by`."""

    granted: bool
    statuses: list[BudgetStatus] = field(default_factory=list)
    refused_by: BudgetLimit | None = None
    retry_after_s: int | None = None


class BudgetStore(Protocol):
    """Contract shared by the in-process and Redis stores."""

    async def reserve(
        self, reservation_id: str, limits: list[BudgetLimit], amount: Amount, now: datetime
    ) -> ReserveResult: ...

    async def settle(self, reservation_id: str, actual: Amount, now: datetime) -> None: ...

    async def release(self, reservation_id: str, now: datetime) -> None: ...

    async def status(self, limits: list[BudgetLimit], now: datetime) -> list[BudgetStatus]: ...
