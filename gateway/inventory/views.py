"""The committee's published views of a month: per use case, per department, per model.

Figures come from the month's cube (`UsageAggregator.month`); which groups may be shown
comes from `suppression.plan`, which needs the distinct employees behind any set of
cells. Those are counted from the presence roll-up (`usage_presence_monthly`), in one
query for the period whatever its length: the database groups the employees by the
set of cells each used (their "signature") and returns each signature with how many
employees share it. No pseudonym leaves the database; the employees behind a set of
cells are the sum over the signatures that meet it, so a person is counted once
however many of its cells they used, and across the months of a year.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.inventory.suppression import VIEW_ORDER, CellKey, Group, plan
from gateway.inventory.usage import Figures, UsageAggregator
from gateway.ledger.tables import MonthlyPresence

_FIELD, _CELL = "\x1f", "\x1e"
"""Separators of a cell's fields and of a signature's cells (control characters no key holds)."""


def _cell_key(text: str) -> CellKey:
    use_case, department, model = text.split(_FIELD)
    return use_case, department, model


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

    async def _signatures(self, months: Sequence[str]) -> dict[frozenset[CellKey], int]:
        """How many employees used exactly each set of cells over `months` (one query, counts only)."""
        cell = (MonthlyPresence.use_case + literal(_FIELD) + MonthlyPresence.department + literal(_FIELD)
                + MonthlyPresence.served_model).label("cell")
        pairs = (select(MonthlyPresence.employee_pseudonym, cell)
                 .where(MonthlyPresence.month.in_(list(months))).distinct().subquery())
        per_employee = (select(func.aggregate_strings(pairs.c.cell, _CELL).label("signature"))
                        .group_by(pairs.c.employee_pseudonym).subquery())
        query = select(per_employee.c.signature, func.count()).group_by(per_employee.c.signature)
        signatures: dict[frozenset[CellKey], int] = {}
        async with self._engine.connect() as conn:
            for signature, count in (await conn.execute(query)).all():
                cells = frozenset(_cell_key(text) for text in str(signature).split(_CELL))
                signatures[cells] = signatures.get(cells, 0) + int(count)  # same set, another order
        return signatures

    async def month(self, month: str, dimensions: Sequence[str] = VIEW_ORDER) -> dict[str, View]:
        """Every view of `month` (published rows, hidden groups with reasons, remainder, total)."""
        return await self.period((month,), dimensions)

    async def period(self, months: Sequence[str], dimensions: Sequence[str] = VIEW_ORDER) -> dict[str, View]:
        """The views of several months taken together (a year): the cubes summed, people counted once."""
        figures: dict[CellKey, Figures] = {}
        for month in months:
            for cell in (await self._aggregator.month(month)).cells:
                figures[cell.key] = figures.get(cell.key, Figures()) + cell.figures
        label = months[0] if len(months) == 1 else f"{months[0]}..{months[-1]}"
        return self._views(label, figures, await self._signatures(months), dimensions)

    def _views(self, month: str, figures: dict[CellKey, Figures], signatures: dict[frozenset[CellKey], int],
               dimensions: Sequence[str]) -> dict[str, View]:
        counted: dict[frozenset[CellKey], int] = {}

        def users(cells: frozenset[CellKey]) -> int:
            """Employees who used at least one of `cells`."""
            if cells not in counted:
                counted[cells] = sum(n for used, n in signatures.items() if not used.isdisjoint(cells))
            return counted[cells]

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
