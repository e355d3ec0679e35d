"""Budget configuration: defaults by scope, role and department, and the store's behaviour.

`BudgetsConfig` is meant to be embedded in the gateway settings (`budgets:` in YAML).
Limits are written in euros and grams CO2e for humans and turned into integer
micro-units here, once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.budgets.store import CALENDAR_MONTH, EUR, GCO2E, ROLLING, BudgetLimit

from gateway.units import MICRO


class BudgetRule(BaseModel):
    """The budget of one kind of scope. A currency left unset has no budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    eur: Decimal | None = Field(default=None, ge=0, description="limit in euros per window")
    gco2e_g: Decimal | None = Field(default=None, ge=0, description="limit in grams CO2e per window")
    window: Literal["rolling", "calendar_month"] = "rolling"
    window_days: int = Field(default=30, ge=1, description="length of a rolling window")
    bucket_minutes: int = Field(default=60, ge=1, description="resolution of a rolling window")

    def merged(self, other: BudgetRule) -> BudgetRule:
        """This rule with the fields explicitly set in `other` taking precedence."""
        return self.model_copy(update={name: getattr(other, name) for name in other.model_fields_set})

    def limits(self, scope: str) -> list[BudgetLimit]:
        window = CALENDAR_MONTH if self.window == CALENDAR_MONTH else ROLLING
        seconds, bucket = self.window_days * 86_400, self.bucket_minutes * 60
        limits = []
        if self.eur is not None:
            limits.append(BudgetLimit(scope, EUR, int(self.eur * MICRO), window=window, window_seconds=seconds,
                                      bucket_seconds=bucket))
        if self.gco2e_g is not None:
            limits.append(BudgetLimit(scope, GCO2E, int(self.gco2e_g * MICRO), window=window, window_seconds=seconds,
                                      bucket_seconds=bucket))
        return limits


class BudgetsConfig(BaseModel):
    """Which budgets apply, how thresholds are reported, and how the store behaves.

    Employee budgets start from `employee`, then take the fields set for their
    department in `employee_by_department`, then those set for each of their roles in
    `employee_by_role` (in the order written). An admin override of a scope replaces
    the result for that scope entirely."""

    model_config = ConfigDict(extra="forbid")

    employee: BudgetRule = BudgetRule(eur=Decimal(50), gco2e_g=Decimal(2000))
    employee_by_department: dict[str, BudgetRule] = Field(default_factory=dict)
    employee_by_role: dict[str, BudgetRule] = Field(default_factory=dict)
    department: BudgetRule = Field(default_factory=BudgetRule, description="every department without its own entry")
    departments: dict[str, BudgetRule] = Field(default_factory=dict)
    use_case: BudgetRule = Field(default_factory=BudgetRule, description="every use case without its own entry")
    use_cases: dict[str, BudgetRule] = Field(default_factory=dict)
    org: BudgetRule = Field(default_factory=BudgetRule)

    soft_thresholds: list[float] = Field(default=[0.8], description="fractions of a budget that warn")
    webhook_url: str | None = Field(default=None, description="POSTed a JSON event per threshold crossed")
    webhook_timeout_s: float = 2.0

    redis_prefix: str = "sobria:budget:"
    on_redis_unavailable: Literal["fail_closed", "fail_open"] = "fail_closed"
    redis_timeout_s: float = Field(
        default=1.0,
        description="socket timeout of budget calls to Redis; shorter ones fire spuriously when the event loop is saturated",
    )
    reservation_ttl_s: int = Field(default=900, ge=1, description="an unsettled reservation is freed after this")
    settle_grace_s: int = Field(default=3600, ge=0, description="a late settle still counts within this")
    fail_open_replicas: int = Field(
        default=1, ge=1,
        description="fail_open: each replica admits at most a budget's room divided by this while Redis is down",
    )
    rebuild_grace_s: float = Field(
        default=1.0, ge=0,
        description="after Redis comes back empty, rebuilt counters wait this long for replicas to re-apply holds",
    )
