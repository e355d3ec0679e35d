"""The CSR director's report for a month or a year: what CSRD / Label Numérique Responsable need.

Totals separate served from refused requests (a refusal consumes no model, so it
carries no footprint); carbon is given location-based and market-based side by side,
the market-based figure only when every served request had a market-based factor
(the ledger stores NULL otherwise, and "not available" beats a copied number);
ranges come from the per-request low and high estimates. Per-department, per-use-case
and per-model lines are the committee's k-anonymous views over the same period
(`gateway.inventory.views`), with per-request (served) and per-active-user ratios; each
model line carries its GHG Protocol scope. The trend covers the 12 months ending with the
period. A total (of the period or of a trend month) is published only when the committee
views of that period publish theirs: otherwise the total minus the use cases shown would
give back the figures of the few people hidden. Renderers (`csr_render`) only lay these
numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.providers.catalogue import Catalogue
from gateway.inventory.usage import month_range, previous_month
from gateway.inventory.views import CommitteeViews, View
from gateway.ledger.tables import UsageRecord

METHODOLOGY_URL = "/v1/impacts/methodology"
TREND_MONTHS = 12
SCOPES = {
    "provider": "scope3_cat1",
    "local": "scope2",
    "demo": "none",
}


@dataclass(frozen=True, slots=True)
class Totals:
    """Org-wide figures of a period; carbon in micro-grams (ranges in grams), market-based None when not available."""

    served: int
    refused: int
    users: int
    cost_micro_eur: int
    energy_wh: float
    energy_wh_min: float
    energy_wh_max: float
    gwp_ug: int
    gwp_g_min: float
    gwp_g_max: float
    gwp_market_ug: int | None
    served_without_market_factor: int
    water_ml: float

    @property
    def gco2e(self) -> float:
        return self.gwp_ug / 1_000_000

    @property
    def gco2e_market(self) -> float | None:
        return None if self.gwp_market_ug is None else self.gwp_market_ug / 1_000_000


@dataclass(frozen=True, slots=True)
class MonthPoint:
    month: str
    totals: Totals | None


@dataclass(frozen=True, slots=True)
class Method:
    method: str
    factor_set_version: str
    requests: int


@dataclass(frozen=True, slots=True)
class CsrReport:
    """Everything the CSR report says, as numbers."""

    period: str
    months: tuple[str, ...]
    k: int
    totals: Totals | None
    trend: tuple[MonthPoint, ...]
    by_department: View
    by_use_case: View
    by_model: View
    scopes: dict[str, str]
    methods: tuple[Method, ...]
    methodology_url: str = METHODOLOGY_URL
    totals_withheld: str = ""
    """Why `totals` is None: 'few' (fewer than k people) or 'complementary' (it would reveal a hidden group)."""

    @property
    def annual(self) -> bool:
        return len(self.months) == 12


def months_of(period: str) -> tuple[str, ...]:
    """'2026' -> its 12 months; '2026-07' -> that month. ValueError otherwise."""
    if len(period) == 4 and period.isdigit():
        return tuple(f"{period}-{m:02d}" for m in range(1, 13))
    month_range(period)
    return (period,)


def _bounds(months: tuple[str, ...]) -> tuple[datetime, datetime]:
    return month_range(months[0])[0], month_range(months[-1])[1]


async def _totals(engine: AsyncEngine, months: tuple[str, ...], k: int) -> Totals | None:
    start, end = _bounds(months)
    served = UsageRecord.status == "ok"

    def served_sum(column):
        return func.coalesce(func.sum(case((served, column), else_=0)), 0)

    query = select(
        func.count(case((served, 1))).label("served"),
        func.count(case((~served, 1))).label("refused"),
        func.count(func.distinct(UsageRecord.employee_pseudonym)).label("users"),
        served_sum(UsageRecord.cost_micro_eur).label("cost"),
        served_sum(UsageRecord.energy_wh).label("energy"),
        served_sum(UsageRecord.energy_wh_min).label("energy_min"),
        served_sum(UsageRecord.energy_wh_max).label("energy_max"),
        served_sum(UsageRecord.gwp_ug).label("gwp"),
        served_sum(UsageRecord.gwp_g_min).label("gwp_min"),
        served_sum(UsageRecord.gwp_g_max).label("gwp_max"),
        func.sum(case((served, UsageRecord.gwp_market_ug))).label("market"),
        func.count(case((and_(served, UsageRecord.gwp_market_ug.is_(None)), 1))).label("no_market"),
        served_sum(UsageRecord.water_ml).label("water"),
    ).where(UsageRecord.started_at >= start, UsageRecord.started_at < end)
    async with engine.connect() as conn:
        row = (await conn.execute(query)).one()
    if 0 < int(row.users) < k:
        return None
    no_market = int(row.no_market)
    market = int(row.market) if row.market is not None and no_market == 0 else None
    return Totals(int(row.served), int(row.refused), int(row.users), int(row.cost), float(row.energy),
                  float(row.energy_min), float(row.energy_max), int(row.gwp), float(row.gwp_min), float(row.gwp_max),
                  market if int(row.served) else 0, no_market, float(row.water))


async def _methods(engine: AsyncEngine, months: tuple[str, ...]) -> tuple[Method, ...]:
    start, end = _bounds(months)
    query = (select(UsageRecord.impact_method, UsageRecord.factor_set_version, func.count())
             .where(UsageRecord.started_at >= start, UsageRecord.started_at < end,
                    UsageRecord.impact_method.is_not(None))
             .group_by(UsageRecord.impact_method, UsageRecord.factor_set_version)
             .order_by(UsageRecord.impact_method, UsageRecord.factor_set_version))
    async with engine.connect() as conn:
        return tuple(Method(str(m), str(v or "-"), int(n)) for m, v, n in (await conn.execute(query)).all())


def trend_months(last: str, count: int = TREND_MONTHS) -> tuple[str, ...]:
    months = [last]
    while len(months) < count:
        months.insert(0, previous_month(months[0]))
    return tuple(months)


async def _publishable_totals(engine: AsyncEngine, views: CommitteeViews, months: tuple[str, ...],
                              period_views: dict[str, View] | None = None) -> tuple[Totals | None, str]:
    """The totals of `months` and, when withheld, why."""
    totals = await _totals(engine, months, views.k)
    if totals is None:
        return None, "few"
    if totals.users == 0:
        return totals, ""
    if period_views is None:
        period_views = await views.period(months, ("use_case",))
    if period_views["use_case"].total is None:
        return None, "complementary"
    return totals, ""


async def build_csr_report(engine: AsyncEngine, views: CommitteeViews, catalogue: Catalogue,
                           period: str) -> CsrReport:
    """The report of `period` ('YYYY' or 'YYYY-MM') from the ledger."""
    months = months_of(period)
    trend = tuple([MonthPoint(m, (await _publishable_totals(engine, views, (m,)))[0])
                   for m in trend_months(months[-1])])
    period_views = await views.period(months)
    totals, withheld = await _publishable_totals(engine, views, months, period_views)
    scopes: dict[str, str] = {}
    for row in period_views["model"].rows:
        spec = catalogue.get(row.key)
        scopes[row.key] = SCOPES.get(spec.mode, "unknown") if spec else "unknown"
    return CsrReport(period, months, views.k, totals, trend,
                     period_views["department"], period_views["use_case"], period_views["model"], scopes,
                     await _methods(engine, months), totals_withheld=withheld)
