"""The committee's published views of a month: per use case, per department, per model.

Figures come from the month's cube (`UsageAggregator.month`); which groups may be shown
comes from `suppression.plan`, which needs the distinct employees behind any set of
cells. Those are counted here from one query of the month's distinct
(cell, pseudonym) pairs, mapped to small integers in memory and never returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.inventory.suppression import VIEW_ORDER, CellKey, Group, plan
from gateway.inventory.usage import Figures, UsageAggregator, month_range
from gateway.ledger.tables import UsageRecord

_MODEL = func.coalesce(UsageRecord.served_model, literal("(none)"))


@dataclass(frozen=True, slots=True)
class Row:
    """One published group of a view."""

    key: str
    figures: Figures
    users: int


@dataclass(frozen=True, slots=True)
class HiddenGroup:
    """A group not shown on its own, and why: 'primary', 'secondary' or 'complementary:<view>:<key>'."""

    key: str
    reason: str

    @property
    def kind(self) -> str:
        return self.reason.split(":", 1)[0]

    @property
    def because_of(self) -> str:
        return self.reason.split(":", 2)[2] if self.kind == "complementary" else ""


@dataclass(frozen=True, slots=True)
class View:
    """What the committee sees for one month and one dimension."""

    month: str
    dimension: str
    k: int
    rows: tuple[Row, ...]
    hidden: tuple[HiddenGroup, ...]
    remainder: Figures | None
    remainder_users: int
    total: Figures | None
    total_users: int

    def row(self, key: str) -> Row | None:
        return next((r for r in self.rows if r.key == key), None)

    def hidden_reason(self, key: str) -> HiddenGroup | None:
        return next((h for h in self.hidden if h.key == key), None)


class CommitteeViews:
    """Builds the three published views of a month."""

    def __init__(self, engine: AsyncEngine, aggregator: UsageAggregator):
        self._engine = engine
        self._aggregator = aggregator

    @property
    def k(self) -> int:
        return self._aggregator.k

    async def _members(self, month: str, ids: dict[str, int]) -> dict[CellKey, frozenset[int]]:
        start, end = month_range(month)
        query = (select(UsageRecord.use_case, UsageRecord.department, _MODEL.label("model"),
                        UsageRecord.employee_pseudonym)
                 .where(and_(UsageRecord.started_at >= start, UsageRecord.started_at < end)).distinct())
        members: dict[CellKey, set[int]] = {}
        async with self._engine.connect() as conn:
            for row in (await conn.execute(query)).all():
                number = ids.setdefault(row.employee_pseudonym, len(ids))
                members.setdefault((row.use_case, row.department, row.model), set()).add(number)
        return {key: frozenset(value) for key, value in members.items()}

    async def month(self, month: str, dimensions: Sequence[str] = VIEW_ORDER) -> dict[str, View]:
        """Every view of `month` (published rows, hidden groups with reasons, remainder, total)."""
        return await self.period((month,), dimensions)

    async def period(self, months: Sequence[str], dimensions: Sequence[str] = VIEW_ORDER) -> dict[str, View]:
        """The views of several months taken together (a year): the cubes summed, people counted once."""
        figures: dict[CellKey, Figures] = {}
        members: dict[CellKey, frozenset[int]] = {}
        ids: dict[str, int] = {}
        for month in months:
            for cell in (await self._aggregator.month(month)).cells:
                figures[cell.key] = figures.get(cell.key, Figures()) + cell.figures
            for key, people in (await self._members(month, ids)).items():
                members[key] = members.get(key, frozenset()) | people
        label = months[0] if len(months) == 1 else f"{months[0]}..{months[-1]}"
        return self._views(label, figures, members, dimensions)

    def _views(self, month: str, figures: dict[CellKey, Figures], members: dict[CellKey, frozenset[int]],
               dimensions: Sequence[str]) -> dict[str, View]:

        def users(cells: frozenset[CellKey]) -> int:
            return len(frozenset().union(*(members.get(c, frozenset()) for c in cells))) if cells else 0

        groups: dict[str, list[Group]] = {}
        for dimension in VIEW_ORDER:
            index = VIEW_ORDER.index(dimension)
            by_key: dict[str, set[CellKey]] = {}
            for key in figures:
                by_key.setdefault(key[index], set()).add(key)
            groups[dimension] = [Group(name, frozenset(cells)) for name, cells in sorted(by_key.items())]
        decided = plan(groups, self.k, users)
        plans = decided.views
        total_users = users(frozenset(figures))
        total = sum(figures.values(), Figures()) if decided.total_publishable else None
        views: dict[str, View] = {}
        for dimension in dimensions:
            chosen = plans[dimension]
            cells_of = {g.key: g.cells for g in groups[dimension]}
            rows = tuple(Row(key, sum((figures[c] for c in cells_of[key]), Figures()), users(cells_of[key]))
                         for key in chosen.published)
            hidden_cells = frozenset(c for key in chosen.hidden for c in cells_of[key])
            remainder = sum((figures[c] for c in hidden_cells), Figures()) if chosen.remainder_users else None
            views[dimension] = View(month, dimension, self.k, rows,
                                    tuple(HiddenGroup(key, reason) for key, reason in sorted(chosen.hidden.items())),
                                    remainder, chosen.remainder_users if remainder else 0, total,
                                    total_users if total else 0)
        return views
