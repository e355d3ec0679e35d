"""What the employee page adds to `gateway.ledger.own_usage.own_usage`: the estimate ranges, served vs refused,
and when the oldest usage in a rolling window leaves it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.tables import UsageRecord


@dataclass(frozen=True, slots=True)
class OwnRanges:
    """One employee's window: low/high estimates (g CO2e, Wh), served and refused counts, oldest served request."""

    gwp_g_min: float
    gwp_g_max: float
    energy_wh_min: float
    energy_wh_max: float
    served: int
    refused: int
    oldest_served_at: datetime | None


async def own_ranges(engine: AsyncEngine, pseudonym: str, now: datetime, window_days: int) -> OwnRanges:
    since = now - timedelta(days=window_days)
    served = UsageRecord.status == "ok"
    query = select(
        func.coalesce(func.sum(UsageRecord.gwp_g_min), 0.0), func.coalesce(func.sum(UsageRecord.gwp_g_max), 0.0),
        func.coalesce(func.sum(UsageRecord.energy_wh_min), 0.0), func.coalesce(func.sum(UsageRecord.energy_wh_max), 0.0),
        func.count(case((served, 1))), func.count(case((~served, 1))),
        func.min(case((served, UsageRecord.started_at))),
    ).where(UsageRecord.employee_pseudonym == pseudonym, UsageRecord.started_at >= since)
    async with engine.connect() as conn:
        row = (await conn.execute(query)).one()
    oldest = row[6]
    if isinstance(oldest, str):
        oldest = datetime.fromisoformat(oldest)
    return OwnRanges(float(row[0]), float(row[1]), float(row[2]), float(row[3]), int(row[4]), int(row[5]), oldest)
