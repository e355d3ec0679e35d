"""Aggregated usage for the committee, k-anonymous, with secondary suppression.

The only figures ever computed come from one fixed cube: month x use case x
department x served model, each cell a SQL aggregate of `usage_records` (never a row,
never prompt text). A cell covering fewer than k distinct employees is suppressed
(primary suppression). Because a total minus the published cells would give back a
suppressed cell, suppression goes on (secondary suppression, smallest cells first)
until all suppressed cells of the month together cover at least k distinct employees.
Those are then published only as one combined "suppressed" remainder, and every
roll-up (per use case, department, model) is a sum of published cells, so no two
published figures can be differenced down to fewer than k employees. Month totals are
published cells plus the remainder: exactly the ledger's sums.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from gateway.ledger.tables import UsageRecord

DIMENSIONS = ("use_case", "department", "model")
NO_MODEL = "(none)"
_MODEL = func.coalesce(UsageRecord.served_model, literal(NO_MODEL))


@dataclass(frozen=True, slots=True)
class Figures:
    """Summable figures of a set of requests (distinct users is not summable: kept apart)."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micro_eur: int = 0
    energy_wh: float = 0.0
    gwp_ug: int = 0
    gwp_market_ug: int = 0
    water_ml: float = 0.0

    def __add__(self, other: "Figures") -> "Figures":
        return Figures(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def cost_eur(self) -> float:
        return self.cost_micro_eur / 1_000_000

    @property
    def gco2e(self) -> float:
        return self.gwp_ug / 1_000_000

    @property
    def gco2e_market(self) -> float:
        return self.gwp_market_ug / 1_000_000


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell of the cube."""

    month: str
    use_case: str
    department: str
    model: str
    figures: Figures
    distinct_users: int
    suppressed: bool = False
    suppression: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.use_case, self.department, self.model


@dataclass(frozen=True, slots=True)
class MonthUsage:
    """What may be published for one month."""

    month: str
    k: int
    cells: tuple[Cell, ...]
    remainder: Figures
    remainder_users: int
    suppressed_cells: int
    total: Figures
    total_users: int

    @property
    def published(self) -> list[Cell]:
        return [c for c in self.cells if not c.suppressed]

    @property
    def totals_publishable(self) -> bool:
        """The remainder (hence the month total) covers k employees, or nothing was suppressed."""
        return self.suppressed_cells == 0 or self.remainder_users >= self.k


def figures_json(figures: Figures) -> dict[str, float | int]:
    """Figures in the units people read: EUR, Wh, gCO2e (location and market based), mL."""
    return {
        "requests": figures.requests,
        "input_tokens": figures.input_tokens,
        "output_tokens": figures.output_tokens,
        "cost_eur": round(figures.cost_eur, 6),
        "energy_wh": round(figures.energy_wh, 6),
        "gco2e_location": round(figures.gco2e, 6),
        "gco2e_market": round(figures.gco2e_market, 6),
        "water_ml": round(figures.water_ml, 6),
    }


def month_range(month: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) in UTC, for 'YYYY-MM'."""
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def previous_month(month: str) -> str:
    start, _ = month_range(month)
    return f"{start.year - 1}-12" if start.month == 1 else f"{start.year}-{start.month - 1:02d}"


def _sums() -> list[ColumnElement]:
    return [
        func.count().label("requests"),
        func.coalesce(func.sum(UsageRecord.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(UsageRecord.output_tokens), 0).label("output_tokens"),
        func.coalesce(func.sum(UsageRecord.cost_micro_eur), 0).label("cost_micro_eur"),
        func.coalesce(func.sum(UsageRecord.energy_wh), 0.0).label("energy_wh"),
        func.coalesce(func.sum(UsageRecord.gwp_ug), 0).label("gwp_ug"),
        func.coalesce(func.sum(func.coalesce(UsageRecord.gwp_market_ug, UsageRecord.gwp_ug)), 0).label("gwp_market_ug"),
        func.coalesce(func.sum(UsageRecord.water_ml), 0.0).label("water_ml"),
        func.count(func.distinct(UsageRecord.employee_pseudonym)).label("distinct_users"),
    ]


def _figures(row: Row[Any]) -> Figures:
    return Figures(
        int(row.requests), int(row.input_tokens), int(row.output_tokens), int(row.cost_micro_eur),
        float(row.energy_wh), int(row.gwp_ug), int(row.gwp_market_ug), float(row.water_ml),
    )


def _in_cells(keys: Iterable[tuple[str, str, str]]) -> ColumnElement[bool]:
    return or_(*(and_(UsageRecord.use_case == u, UsageRecord.department == d, _MODEL == m) for u, d, m in keys))


class UsageAggregator:
    """Computes the k-anonymous cube of a month from the ledger."""

    def __init__(self, engine: AsyncEngine, k: int):
        self._engine = engine
        self.k = k

    async def month(self, month: str) -> MonthUsage:
        start, end = month_range(month)
        in_month = and_(UsageRecord.started_at >= start, UsageRecord.started_at < end)
        async with self._engine.connect() as conn:
            grouped = select(UsageRecord.use_case, UsageRecord.department, _MODEL.label("model"), *_sums()).where(
                in_month).group_by(UsageRecord.use_case, UsageRecord.department, _MODEL)
            cells = [Cell(month, r.use_case, r.department, r.model, _figures(r), int(r.distinct_users))
                     for r in (await conn.execute(grouped)).all()]
            total_row = (await conn.execute(select(*_sums()).where(in_month))).one()
            cells = await self._suppress(conn, in_month, cells)
            hidden = [c.key for c in cells if c.suppressed]
            remainder_users = await self._distinct(conn, in_month, hidden)
        remainder = sum((c.figures for c in cells if c.suppressed), Figures())
        cells.sort(key=lambda c: (c.use_case, c.department, c.model))
        return MonthUsage(month, self.k, tuple(cells), remainder, remainder_users, len(hidden), _figures(total_row),
                          int(total_row.distinct_users))

    async def distinct_users(self, month: str, cells: Sequence[Cell]) -> int:
        """Distinct employees over a set of published cells (for roll-ups)."""
        start, end = month_range(month)
        async with self._engine.connect() as conn:
            return await self._distinct(
                conn, and_(UsageRecord.started_at >= start, UsageRecord.started_at < end),
                [c.key for c in cells if not c.suppressed])

    async def _suppress(self, conn: AsyncConnection, in_month: ColumnElement[bool], cells: list[Cell]) -> list[Cell]:
        cells = [replace(c, suppressed=True, suppression="primary") if c.distinct_users < self.k else c
                 for c in cells]
        while True:
            hidden = [c.key for c in cells if c.suppressed]
            visible = [c for c in cells if not c.suppressed]
            if not hidden or not visible or await self._distinct(conn, in_month, hidden) >= self.k:
                return cells
            smallest = min(visible, key=lambda c: (c.distinct_users, c.figures.requests, c.key))
            cells = [replace(c, suppressed=True, suppression="secondary") if c is smallest else c for c in cells]

    @staticmethod
    async def _distinct(conn: AsyncConnection, in_month: ColumnElement[bool],
                        keys: Sequence[tuple[str, str, str]]) -> int:
        if not keys:
            return 0
        query = select(func.count(func.distinct(UsageRecord.employee_pseudonym))).where(in_month, _in_cells(keys))
        return int((await conn.execute(query)).scalar() or 0)


def roll_up(cells: Iterable[Cell], by: Sequence[str]) -> dict[tuple[str, ...], Figures]:
    """Sum published cells by some of the dimensions (suppressed cells never enter)."""
    groups: dict[tuple[str, ...], Figures] = {}
    for cell in cells:
        if cell.suppressed:
            continue
        key = tuple(getattr(cell, dim) for dim in by)
        groups[key] = groups.get(key, Figures()) + cell.figures
    return groups
