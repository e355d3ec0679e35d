"""One employee's own usage, read from the ledger by their pseudonym.

Only ever called with the caller's own pseudonym: this is the employee's view of
themselves, not a way to look at anyone else (the committee sees aggregates only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.tables import UsageRecord

from gateway.units import MICRO


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Sums over a set of ledger rows; money and carbon stay exact integers here."""

    requests: int
    input_tokens: int
    output_tokens: int
    cost_micro_eur: int
    gwp_ug: int
    energy_wh: float
    water_ml: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_eur": str((Decimal(self.cost_micro_eur) / MICRO).quantize(Decimal("0.000001"))),
            "gwp_g": str((Decimal(self.gwp_ug) / MICRO).quantize(Decimal("0.000001"))),
            "energy_wh": round(self.energy_wh, 6),
            "water_ml": round(self.water_ml, 6),
        }


_COLUMNS = (
    func.count(),
    func.coalesce(func.sum(UsageRecord.input_tokens), 0),
    func.coalesce(func.sum(UsageRecord.output_tokens), 0),
    func.coalesce(func.sum(UsageRecord.cost_micro_eur), 0),
    func.coalesce(func.sum(UsageRecord.gwp_ug), 0),
    func.coalesce(func.sum(UsageRecord.energy_wh), 0.0),
    func.coalesce(func.sum(UsageRecord.water_ml), 0.0),
)


def _totals(row: Any) -> UsageTotals:
    return UsageTotals(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), float(row[5]), float(row[6]))


async def own_usage(engine: AsyncEngine, pseudonym: str, now: datetime, window_days: int = 30) -> dict[str, Any]:
    """Totals, per-day and per-model series and the last requests of one employee."""
    since = now - timedelta(days=window_days)
    mine = (UsageRecord.employee_pseudonym == pseudonym, UsageRecord.started_at >= since)
    day = func.date(UsageRecord.started_at)
    async with engine.connect() as conn:
        total = (await conn.execute(select(*_COLUMNS).where(*mine))).one()
        by_day = (await conn.execute(select(day, *_COLUMNS).where(*mine).group_by(day).order_by(day))).all()
        by_model = (
            await conn.execute(
                select(UsageRecord.served_model, *_COLUMNS)
                .where(*mine)
                .group_by(UsageRecord.served_model)
                .order_by(UsageRecord.served_model)
            )
        ).all()
        last = (
            await conn.execute(
                select(
                    UsageRecord.request_id,
                    UsageRecord.started_at,
                    UsageRecord.served_model,
                    UsageRecord.use_case,
                    UsageRecord.status,
                    UsageRecord.input_tokens,
                    UsageRecord.output_tokens,
                    UsageRecord.cost_micro_eur,
                    UsageRecord.gwp_ug,
                    UsageRecord.energy_wh,
                    UsageRecord.water_ml,
                )
                .where(*mine)
                .order_by(UsageRecord.started_at.desc())
                .limit(20)
            )
        ).all()
    return {
        "window": {"days": window_days, "since": since.isoformat(), "until": now.isoformat()},
        "totals": _totals(total).as_dict(),
        "by_day": [{"day": str(r[0]), **_totals(r[1:]).as_dict()} for r in by_day],
        "by_model": [{"model": r[0] or "none", **_totals(r[1:]).as_dict()} for r in by_model],
        "last_requests": [
            {
                "request_id": r.request_id,
                "at": r.started_at.isoformat() if hasattr(r.started_at, "isoformat") else str(r.started_at),
                "model": r.served_model,
                "use_case": r.use_case,
                "status": r.status,
                "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens,
                "cost_eur": str((Decimal(r.cost_micro_eur) / MICRO).quantize(Decimal("0.000001"))),
                "gwp_g": str((Decimal(r.gwp_ug) / MICRO).quantize(Decimal("0.000001"))),
                "energy_wh": r.energy_wh,
                "water_ml": r.water_ml,
            }
            for r in last
        ],
    }
