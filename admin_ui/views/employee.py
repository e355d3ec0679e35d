"""The employee's own page: usage over the rolling window, budgets, last requests, comparisons."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from gateway.i18n import formatting
from admin_ui.charts import stacked_bars
from admin_ui.footprint import compare
from admin_ui.web import UiRoute, Visitor, render, visitor
from gateway.i18n import translate
from gateway.ledger.own_usage import own_usage
from gateway.ledger.own_usage_ranges import own_ranges
from gateway.edge.dependencies import BudgetsDep, EngineDep
from gateway.budgets.service import BudgetService

WARN_SHARE = 0.8
KNOWN_STATUSES = frozenset({
    "ok", "budget_exceeded", "budget_unavailable", "rate_limited", "policy_denied", "use_case_suspended",
    "use_case_not_approved", "use_case_rejected", "use_case_retired", "use_case_unregistered", "upstream_error",
    "upstream_timeout", "internal",
})

router = APIRouter(route_class=UiRoute)


def _micro(text: str) -> int:
    return int(Decimal(text) * formatting.MICRO)


def _days(window_days: int, now: datetime) -> list[date]:
    first = (now - timedelta(days=window_days - 1)).date()
    return [first + timedelta(days=i) for i in range(window_days)]


def _window_days(budgets: BudgetService) -> int:
    rule = budgets.config.employee
    return rule.window_days if rule.window == "rolling" else 31


@router.get("/me")
async def my_usage(request: Request, engine: EngineDep, budgets: BudgetsDep, who: Visitor = Depends(visitor)) -> Response:
    principal = who.require("employee")
    now = datetime.now(UTC)
    window = _window_days(budgets)
    usage = await own_usage(engine, principal.pseudonym, now, window)
    statuses = await budgets.usage(principal, now)
    ranges = await own_ranges(engine, principal.pseudonym, now, window)
    lang = who.lang
    unit = translate("ui.unit.gco2e", lang)
    per_day = {row["day"]: _micro(row["gwp_g"]) for row in usage["by_day"]}
    days = _days(window, now)

    def grams(micro: float) -> str:
        return formatting.quantity(micro / 1_000_000, lang)

    def axis(micro: float) -> str:
        return formatting.plain(micro / 1_000_000, lang)

    day_chart = stacked_bars(
        [formatting.short_day(d, lang) for d in days],
        {"gCO2e": [per_day.get(d.isoformat(), 0) for d in days]},
        grams, unit=unit, floor=1_000_000, axis_label=axis,
    )
    model_chart = stacked_bars(
        [row["model"] for row in usage["by_model"]],
        {"gCO2e": [_micro(row["gwp_g"]) for row in usage["by_model"]]},
        grams,
        height=180, unit=unit, floor=1_000_000, axis_label=axis,
    )
    totals: dict[str, Any] = usage["totals"]
    comparisons = compare(float(totals["gwp_g"]), float(totals["energy_wh"]), float(totals["water_ml"]))
    return render(
        request,
        who,
        "me.html",
        window=window,
        totals=totals,
        micro=_micro,
        days=[(d, per_day.get(d.isoformat(), 0)) for d in days],
        by_model=usage["by_model"],
        day_chart=day_chart,
        model_chart=model_chart,
        last=usage["last_requests"],
        budgets=statuses,
        comparisons=comparisons,
        ranges=ranges,
        known_statuses=KNOWN_STATUSES,
        warnings=[s for s in statuses if s.limit.limit_micro and
                  (s.spent_micro + s.reserved_micro) >= WARN_SHARE * s.limit.limit_micro],
        frees_on=(ranges.oldest_served_at + timedelta(days=window)) if ranges.oldest_served_at and
        budgets.config.employee.window == "rolling" else None,
    )
