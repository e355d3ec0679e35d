"""One employee's own usage, read from the ledger by their pseudonym.

Only ever called with the caller's own pseudonym: this is the employee's view of
themselves, not a way to look at anyone else (the committee sees aggregates only).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.figures import Figures
from gateway.ledger.tables import NO_MODEL, EmployeeDailyUsage, UsageRecord
from gateway.units import MICRO


def _own_json(figures: Figures) -> dict[str, Any]:
    """An employee's figures as `/v1/me/usage` shows them: exact decimal euros and grams."""
    return {
        "requests": figures.requests,
        "input_tokens": figures.input_tokens,
        "output_tokens": figures.output_tokens,
        "cost_eur": str((Decimal(figures.cost_micro_eur) / MICRO).quantize(Decimal("0.000001"))),
        "gwp_g": str((Decimal(figures.gwp_ug) / MICRO).quantize(Decimal("0.000001"))),
        "energy_wh": round(figures.energy_wh, 6),
        "water_ml": round(figures.water_ml, 6),
    }


_COLUMNS = (
    func.coalesce(func.sum(EmployeeDailyUsage.requests), 0),
    func.coalesce(func.sum(EmployeeDailyUsage.input_tokens), 0),
    func.coalesce(func.sum(EmployeeDailyUsage.output_tokens), 0),
    func.coalesce(func.sum(EmployeeDailyUsage.cost_micro_eur), 0),
    func.coalesce(func.sum(EmployeeDailyUsage.gwp_ug), 0),
    func.coalesce(func.sum(EmployeeDailyUsage.energy_wh), 0.0),
    func.coalesce(func.sum(EmployeeDailyUsage.water_ml), 0.0),
)


def _totals(row: Any) -> Figures:
    return Figures(requests=int(row[0]), input_tokens=int(row[1]), output_tokens=int(row[2]),
                   cost_micro_eur=int(row[3]), gwp_ug=int(row[4]), energy_wh=float(row[5]), water_ml=float(row[6]))


async def own_usage(engine: AsyncEngine, pseudonym: str, now: datetime, window_days: int = 30) -> dict[str, Any]:
    """Totals, per-day and per-model series and the last requests of one employee.

    The window is whole UTC days, today included: the figures come from the
    employee's daily roll-up (one row per day and model), the last requests from
    the newest raw rows through the (employee, started_at) index."""
    first_day = (now.astimezone(UTC) - timedelta(days=window_days - 1)).date()
    since = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    mine = (EmployeeDailyUsage.employee_pseudonym == pseudonym, EmployeeDailyUsage.day >= first_day)
    day, model = EmployeeDailyUsage.day, EmployeeDailyUsage.served_model
    async with engine.connect() as conn:
        rows = (await conn.execute(select(day, model, *_COLUMNS).where(*mine).group_by(day, model))).all()
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
                .where(UsageRecord.employee_pseudonym == pseudonym, UsageRecord.started_at >= since)
                .order_by(UsageRecord.started_at.desc())
                .limit(20)
            )
        ).all()
    cells = [(str(r[0]), r[1], _totals(r[2:])) for r in rows]
    total = Figures.total(t for _, _, t in cells)
    by_day = {d: Figures.total(t for cd, _, t in cells if cd == d) for d in sorted({d for d, _, _ in cells})}
    models = sorted({m for _, m, _ in cells})
    by_model = {m: Figures.total(t for _, cm, t in cells if cm == m) for m in models}
    return {
        "window": {"days": window_days, "since": since.isoformat(), "until": now.isoformat()},
        "totals": _own_json(total),
        "by_day": [{"day": d, **_own_json(t)} for d, t in by_day.items()],
        "by_model": [{"model": "none" if m == NO_MODEL else m, **_own_json(t)} for m, t in by_model.items()],
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
