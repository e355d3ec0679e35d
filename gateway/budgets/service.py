"""The budget service: which budgets apply to a request, and reserve / settle / release.

Knows nothing of HTTP: a refusal is a `BudgetExceeded` carrying the budget that
refused and the Retry-After; an unreachable store that fails closed raises
`BudgetStoreUnavailable`. The HTTP layer turns them into 429 and 503.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from gateway.budgets.config import BudgetRule, BudgetsConfig
from gateway.budgets.store import (
    EUR,
    GCO2E,
    Amount,
    BudgetLimit,
    BudgetStatus,
    BudgetStore,
)
from gateway.budgets.thresholds import ThresholdWatch, WebhookNotifier


class BudgetSubject(Protocol):
    """What the service needs of a principal (gateway.identity.auth.Principal fits)."""

    @property
    def pseudonym(self) -> str: ...

    @property
    def department(self) -> str: ...

    @property
    def roles(self) -> Collection[str]: ...


class BudgetExceeded(Exception):
    """A budget has no room for this request's worst case: nothing was reserved."""

    code = "budget_exceeded"

    def __init__(self, refused_by: BudgetLimit, status: BudgetStatus | None, needed_micro: int, retry_after_s: int | None):
        super().__init__(f"budget {refused_by.scope} ({refused_by.unit}) exceeded")
        self.refused_by = refused_by
        self.status = status
        self.needed_micro = needed_micro
        self.retry_after_s = retry_after_s


def tightest_remaining(statuses: list[BudgetStatus], unit: str) -> int | None:
    """Micro-units left on the tightest budget of a unit; None when no budget of it applies."""
    remaining = [s.remaining_micro for s in statuses if s.limit.unit == unit]
    return min(remaining) if remaining else None


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    """Budgets of one request at one moment, with the soft-threshold warnings."""

    statuses: list[BudgetStatus]
    warnings: list[str] = field(default_factory=list)
    degraded: bool = False

    @property
    def remaining_micro_eur(self) -> int | None:
        return tightest_remaining(self.statuses, EUR)

    @property
    def remaining_gco2e_ug(self) -> int | None:
        return tightest_remaining(self.statuses, GCO2E)

    @property
    def limits(self) -> list[BudgetLimit]:
        return [s.limit for s in self.statuses]


class BudgetService:
    """Budgets by principal and use case over one `BudgetStore`."""

    def __init__(
        self,
        store: BudgetStore,
        config: BudgetsConfig | None = None,
        overrides: Mapping[str, BudgetRule] | None = None,
        notifier: WebhookNotifier | None = None,
    ) -> None:
        self.store = store
        self.config = config or BudgetsConfig()
        if notifier is None and self.config.webhook_url:
            notifier = WebhookNotifier(self.config.webhook_url, self.config.webhook_timeout_s)
        self.notifier = notifier
        self._thresholds = ThresholdWatch(store, self.config.soft_thresholds, notifier)
        self._overrides: dict[str, BudgetRule] = dict(overrides or {})
        self._cache: dict[tuple, list[BudgetLimit]] = {}

    def set_overrides(self, overrides: Mapping[str, BudgetRule]) -> None:
        """Replace the admin overrides (after a change, or a periodic reload)."""
        self._overrides = dict(overrides)
        self._cache.clear()

    def rule_for(self, scope: str, subject: BudgetSubject | None = None) -> BudgetRule:
        """The rule in force for a scope: the override, or the configured default."""
        if scope in self._overrides:
            return self._overrides[scope]
        config = self.config
        kind, _, name = scope.partition(":")
        if kind == "employee":
            rule = config.employee
            if subject is not None:
                if subject.department in config.employee_by_department:
                    rule = rule.merged(config.employee_by_department[subject.department])
                for role, by_role in config.employee_by_role.items():
                    if role in subject.roles:
                        rule = rule.merged(by_role)
            return rule
        if kind == "department":
            return config.departments.get(name, config.department)
        if kind == "use_case":
            return config.use_cases.get(name, config.use_case)
        return config.org

    def limits_for(self, subject: BudgetSubject, use_case: str | None) -> list[BudgetLimit]:
        """Every budget a request of this subject under this use case counts against."""
        key = (subject.pseudonym, subject.department, frozenset(subject.roles), use_case)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        scopes = [f"employee:{subject.pseudonym}", f"department:{subject.department}"]
        if use_case:
            scopes.append(f"use_case:{use_case}")
        scopes.append("org")
        limits = [limit for scope in scopes for limit in self.rule_for(scope, subject).limits(scope)]
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = limits
        return limits

    async def reserve(
        self, reservation_id: str, subject: BudgetSubject, use_case: str | None, worst_case: Amount, now: datetime
    ) -> BudgetSnapshot:
        """Hold the worst case on every applicable budget, or raise `BudgetExceeded`."""
        limits = self.limits_for(subject, use_case)
        result = await self.store.reserve(reservation_id, limits, worst_case, now)
        if not result.granted:
            refused = result.refused_by or limits[0]
            status = next((s for s in result.statuses if s.limit == refused), None)
            raise BudgetExceeded(refused, status, worst_case.in_unit(refused.unit), result.retry_after_s)
        return BudgetSnapshot(result.statuses, self._thresholds.warnings(result.statuses), result.degraded)

    async def settle(
        self, reservation_id: str, actual: Amount, now: datetime, limits: list[BudgetLimit] | None = None
    ) -> BudgetSnapshot:
        """Count the actual amount instead of the reservation; report thresholds reached.

        `limits` (those of the reservation) let the remaining budgets be read when the
        store could not report them itself (another replica reserved, fail-open)."""
        statuses = await self.store.settle(reservation_id, actual, now)
        if not statuses and limits:
            statuses = await self.store.status(limits, now)
        await self._thresholds.observe(statuses, now)
        return BudgetSnapshot(statuses, self._thresholds.warnings(statuses))

    async def renew(self, reservation_id: str, now: datetime) -> bool:
        """Keep a running request's reservation held (streams longer than the TTL)."""
        return await self.store.renew(reservation_id, now)

    @property
    def renew_interval_s(self) -> float:
        """How often a running stream renews its hold: a third of the reservation TTL."""
        return self.config.reservation_ttl_s / 3

    async def release(self, reservation_id: str, now: datetime) -> None:
        """Give the reservation back (the call failed or was refused downstream)."""
        await self.store.release(reservation_id, now)

    async def aclose(self) -> None:
        """Deliver the events in flight and close the store's connections (shutdown)."""
        if self.notifier is not None:
            await self.notifier.aclose()
        close = getattr(self.store, "aclose", None)
        if close is not None:
            await close()

    async def usage(self, subject: BudgetSubject, now: datetime, use_case: str | None = None) -> list[BudgetStatus]:
        """The budgets of this subject as of now, for /v1/me/usage."""
        return await self.store.status(self.limits_for(subject, use_case), now)
