"""The budget step of the request path: reserve, settle, release, and what remains.

Wraps a `BudgetService` (which budgets apply, the store, thresholds) into the three
calls the pipeline makes, and turns a refusal into the contract's 429
`budget_exceeded` (or 503 when the shared store is unreachable and fails closed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from gateway.auth import Principal
from gateway.budgets.store import EUR, GCO2E, Amount, BudgetLimit, BudgetStatus
from gateway.errors import GatewayError


def format_eur(micro: int) -> str:
    return str((Decimal(micro) / Decimal(1_000_000)).quantize(Decimal("0.01")))


def format_g(micro: int) -> str:
    return str((Decimal(micro) / Decimal(1_000_000)).quantize(Decimal("0.001")))


def tightest(statuses: list[BudgetStatus], unit: str) -> str:
    """Remaining amount of the tightest budget of a unit, formatted; '' when none applies."""
    remaining = [s.remaining_micro for s in statuses if s.limit.unit == unit]
    if not remaining:
        return ""
    return format_eur(min(remaining)) if unit == EUR else format_g(min(remaining))


@dataclass(slots=True)
class Hold:
    """A granted reservation and what remained right after it."""

    reservation_id: str
    statuses: list[BudgetStatus]
    warnings: list[str] = field(default_factory=list)

    @property
    def remaining_eur(self) -> str:
        return tightest(self.statuses, EUR)

    @property
    def remaining_gco2e(self) -> str:
        return tightest(self.statuses, GCO2E)


@dataclass(slots=True)
class BudgetView:
    """Remaining budgets after settlement, for headers and usage.sobria."""

    remaining_eur: str
    remaining_gco2e: str
    warnings: list[str]


class BudgetGate:
    """Reserve-settle-release against every budget that applies to a request."""

    def __init__(self, store, limits_for):  # noqa: ANN001
        """`store` is a `BudgetStore`; `limits_for(principal, use_case)` lists its budgets."""
        self._store = store
        self._limits_for = limits_for

    async def reserve(
        self, reservation_id: str, principal: Principal, use_case: str, amount: Amount, now: datetime
    ) -> Hold:
        limits = self._limits_for(principal, use_case)
        result = await self._store.reserve(reservation_id, limits, amount, now)
        if not result.granted:
            refused = result.refused_by
            status = next((s for s in result.statuses if refused and s.limit == refused), None)
            remaining = status.remaining_micro if status else 0
            unit = refused.unit if refused else EUR
            fmt = format_eur if unit == EUR else format_g
            retry = result.retry_after_s or 60
            raise GatewayError(
                429,
                "budget_exceeded",
                param=refused.scope.split(":", 1)[0] if refused else None,
                headers={"Retry-After": str(retry)},
                scope=_public_scope(refused.scope) if refused else "?",
                unit="EUR" if unit == EUR else "gCO2e",
                remaining=fmt(remaining),
                needed=fmt(amount.in_unit(unit)),
                retry_after=retry,
            )
        return Hold(reservation_id, result.statuses)

    async def settle(self, hold: Hold, actual: Amount, now: datetime) -> BudgetView:
        await self._store.settle(hold.reservation_id, actual, now)
        limits = [s.limit for s in hold.statuses]
        statuses = await self._store.status(limits, now) if limits else []
        return BudgetView(tightest(statuses, EUR), tightest(statuses, GCO2E), hold.warnings)

    async def release(self, hold: Hold, now: datetime) -> None:
        await self._store.release(hold.reservation_id, now)


def _public_scope(scope: str) -> str:
    """A budget's name as shown to the caller (an employee pseudonym reads as 'your budget')."""
    kind, _, _ = scope.partition(":")
    return "employee" if kind == "employee" else scope


def employee_limits(principal: Principal, use_case: str) -> list[BudgetLimit]:
    """The reference default: 50 EUR and 2 kgCO2e per employee per rolling 30 days."""
    scope = f"employee:{principal.pseudonym}"
    return [
        BudgetLimit(scope, EUR, 50_000_000),
        BudgetLimit(scope, GCO2E, 2_000_000_000),
    ]
