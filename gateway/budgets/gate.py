"""The budget step of the request path, in HTTP terms.

Wraps the `BudgetService` (which budgets apply, the store, soft thresholds) into the
three calls the pipeline makes, and turns its refusals into the contract's errors:
429 `budget_exceeded` with `Retry-After`, or 503 `budget_unavailable` when the shared
store is unreachable and fails closed. Amounts are formatted here, exactly, as decimal strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from gateway.identity.auth import Principal
from gateway.budgets.service import BudgetExceeded, BudgetService, BudgetSnapshot
from gateway.budgets.store import EUR, Amount, BudgetLimit, BudgetStoreUnavailable
from contracts.errors import OverLimit, Unavailable

from gateway.units import MICRO, from_micro


def format_micro(micro: int | None) -> str:
    """Micro-units as an exact decimal string with six places ('' when no budget applies)."""
    return "" if micro is None else str((Decimal(micro) / MICRO).quantize(Decimal("0.000001")))


format_eur = format_g = format_micro


@dataclass(slots=True)
class Hold:
    """A granted reservation and the budgets right after it."""

    reservation_id: str
    snapshot: BudgetSnapshot

    @property
    def remaining_eur(self) -> str:
        return format_eur(self.snapshot.remaining_micro_eur)

    @property
    def remaining_gco2e(self) -> str:
        return format_g(self.snapshot.remaining_gco2e_ug)


@dataclass(slots=True)
class BudgetView:
    """Remaining budgets after settlement, for headers and usage.sobria."""

    remaining_eur: str
    remaining_gco2e: str
    warnings: list[str]


def _public_scope(limit: BudgetLimit) -> str:
    """A budget's name as shown to its caller: never another person's pseudonym."""
    kind, _, name = limit.scope.partition(":")
    return "employee" if kind == "employee" else limit.scope


class BudgetGate:
    """Reserve, settle and release against every budget that applies to a request."""

    def __init__(self, service: BudgetService):
        self.service = service

    async def reserve(
        self, reservation_id: str, principal: Principal, use_case: str, amount: Amount, now: datetime
    ) -> Hold:
        try:
            snapshot = await self.service.reserve(reservation_id, principal, use_case, amount, now)
        except BudgetExceeded as refused:
            raise _exceeded(refused) from None
        except BudgetStoreUnavailable:
            raise Unavailable("budget_unavailable") from None
        return Hold(reservation_id, snapshot)

    async def settle(self, hold: Hold, actual: Amount, now: datetime) -> BudgetView:
        try:
            snapshot = await self.service.settle(hold.reservation_id, actual, now, hold.snapshot.limits)
        except BudgetStoreUnavailable:
            snapshot = hold.snapshot
        return BudgetView(
            format_eur(snapshot.remaining_micro_eur), format_g(snapshot.remaining_gco2e_ug), snapshot.warnings
        )

    async def renew(self, hold: Hold, now: datetime) -> None:
        """Keep the hold of a running stream (an unreachable store keeps what it has)."""
        try:
            await self.service.renew(hold.reservation_id, now)
        except BudgetStoreUnavailable:
            return

    @property
    def renew_interval_s(self) -> float:
        return self.service.renew_interval_s

    async def release(self, hold: Hold, now: datetime) -> None:
        try:
            await self.service.release(hold.reservation_id, now)
        except BudgetStoreUnavailable:
            return

    async def describe(self, principal: Principal, now: datetime) -> list[dict[str, Any]]:
        """The caller's budgets as of now, for /v1/me/usage; 503 when the store is unreachable."""
        try:
            statuses = await self.service.usage(principal, now)
        except BudgetStoreUnavailable:
            raise Unavailable("budget_unavailable") from None
        described = []
        for status in statuses:
            fmt = format_eur if status.limit.unit == EUR else format_g
            described.append(
                {
                    "scope": _public_scope(status.limit),
                    "unit": "EUR" if status.limit.unit == EUR else "gCO2e",
                    "window": status.limit.window,
                    "window_days": status.limit.window_seconds // 86_400,
                    "limit": fmt(status.limit.limit_micro),
                    "spent": fmt(status.spent_micro),
                    "reserved": fmt(status.reserved_micro),
                    "remaining": fmt(status.remaining_micro),
                }
            )
        return described


def _exceeded(refused: BudgetExceeded) -> OverLimit:
    limit = refused.refused_by
    remaining = refused.status.remaining_micro if refused.status else 0
    retry = refused.retry_after_s or 3600
    return OverLimit(
        "budget_exceeded",
        retry,
        param=limit.scope.partition(":")[0],
        scope=_public_scope(limit),
        unit="EUR" if limit.unit == EUR else "gCO2e",
        remaining=from_micro(remaining),
        needed=from_micro(refused.needed_micro),
        retry_after=retry,
    )
