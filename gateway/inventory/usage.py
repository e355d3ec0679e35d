"""Aggregated usage for the committee, k-anonymous, with secondary suppression.

The only figures ever computed come from one fixed cube: month x use case x
department x served model, each cell a sum of the ledger's daily roll-up
(`usage_daily`, never a raw row, never prompt text); distinct employees come from the
counts the ledger keeps per month, grouping and group (`usage_presence_counts`), one
indexed read per question, never one query per group. A cell covering fewer than k distinct employees is suppressed
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
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, and_, case, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from gateway.ledger import presence as presence_rollup
from gateway.ledger.figures import Figures as Figures  # the shared sum type, re-exported for the views
from gateway.ledger.tables import DailyUsage, MonthlyPresence, PresenceCount

DIMENSIONS = ("use_case", "department", "model")
_PRESENCE_COLUMNS = {"use_case": MonthlyPresence.use_case, "department": MonthlyPresence.department,
                     "model": MonthlyPresence.served_model}


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


def figures_json(figures: Figures) -> dict[str, float | int | None]:
    """Figures in the units people read: EUR, Wh, gCO2e (location and market based), mL."""
    return {
        "requests": figures.requests,
        "requests_served": figures.served,
        "requests_refused": figures.refused,
        "input_tokens": figures.input_tokens,
        "output_tokens": figures.output_tokens,
        "cost_eur": round(figures.cost_eur, 6),
        "energy_wh": round(figures.energy_wh, 6),
        "gco2e_location": round(figures.gco2e, 6),
        "gco2e_market": None if figures.gco2e_market is None else round(figures.gco2e_market, 6),
        "water_ml": round(figures.water_ml, 6),
        "gco2e_market_missing_requests": figures.market_missing_requests,
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
        func.coalesce(func.sum(DailyUsage.requests), 0).label("requests"),
        func.coalesce(func.sum(DailyUsage.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(DailyUsage.output_tokens), 0).label("output_tokens"),
        func.coalesce(func.sum(DailyUsage.cost_micro_eur), 0).label("cost_micro_eur"),
        func.coalesce(func.sum(DailyUsage.energy_wh), 0.0).label("energy_wh"),
        func.coalesce(func.sum(DailyUsage.gwp_ug), 0).label("gwp_ug"),
        func.coalesce(func.sum(DailyUsage.gwp_market_ug), 0).label("gwp_market_ug"),
        func.coalesce(func.sum(DailyUsage.water_ml), 0.0).label("water_ml"),
        func.coalesce(func.sum(DailyUsage.market_missing_requests), 0).label("market_missing_requests"),
        func.coalesce(func.sum(case((DailyUsage.status != "ok", DailyUsage.requests), else_=0)), 0).label("refused"),
    ]


def _figures(row: Row[Any]) -> Figures:
    return Figures(
        int(row.requests), int(row.input_tokens), int(row.output_tokens), int(row.cost_micro_eur),
        float(row.energy_wh), int(row.gwp_ug), int(row.gwp_market_ug), float(row.water_ml),
        int(row.market_missing_requests), int(row.refused),
    )


def _cell_key() -> ColumnElement:
    return tuple_(MonthlyPresence.use_case, MonthlyPresence.department, MonthlyPresence.served_model)


_IN_CHUNK = 1000
"""Pseudonyms per IN list when reading the cells of hidden cells' employees."""
_CELL_COLUMNS = (MonthlyPresence.use_case, MonthlyPresence.department, MonthlyPresence.served_model)


@dataclass(frozen=True, slots=True)
class _Suppressed:
    """What one computation of a month published and hid, and who is behind the hidden."""

    published: frozenset[tuple[str, str, str]]
    hidden: frozenset[tuple[str, str, str]]
    hidden_users: frozenset[str]


def group_of(cell_key: tuple[str, str, str], by: Sequence[str]) -> tuple[str, ...]:
    """A cell's (use case, department, model) key cut down to the dimensions `by` keeps."""
    return tuple(cell_key[presence_rollup.DIMENSIONS.index(dim)] for dim in by)


async def _counts(conn: AsyncConnection, month: str, grouping: str) -> dict[tuple[str, str, str], int]:
    """The maintained distinct-employee counts of one grouping's groups in a month."""
    query = select(PresenceCount.use_case, PresenceCount.department, PresenceCount.served_model,
                   PresenceCount.users).where(PresenceCount.month == month, PresenceCount.grouping == grouping)
    return {(u, d, m): int(n) for u, d, m, n in (await conn.execute(query)).all()}


class UsageAggregator:
    """Computes the k-anonymous cube of a month from the ledger's roll-ups."""

    def __init__(self, engine: AsyncEngine, k: int):
        self._engine = engine
        self.k = k
        self._last_month: dict[str, _Suppressed] = {}
        """Per month, what the last `month()` published and hid: the distinct users of the
        published cells are then the maintained counts less the few employees seen only in
        hidden cells."""

    async def month(self, month: str) -> MonthUsage:
        start, end = month_range(month)
        in_month = (DailyUsage.day >= start.date(), DailyUsage.day < end.date())
        keys = (DailyUsage.use_case, DailyUsage.department, DailyUsage.served_model)
        async with self._engine.connect() as conn:
            users = await _counts(conn, month, presence_rollup.CELL)
            grouped = select(*keys, *_sums()).where(*in_month).group_by(*keys)
            cells = [Cell(month, r.use_case, r.department, r.served_model, _figures(r),
                          users.get((r.use_case, r.department, r.served_model), 0))
                     for r in (await conn.execute(grouped)).all()]
            total_users = sum((await _counts(conn, month, presence_rollup.ALL)).values())
            cells, hidden_users = await self._suppress(conn, month, cells)
            hidden = [c.key for c in cells if c.suppressed]
        self._last_month[month] = _Suppressed(frozenset(c.key for c in cells if not c.suppressed), frozenset(hidden),
                                              frozenset(hidden_users))
        remainder_users = len(hidden_users)
        remainder = Figures.total(c.figures for c in cells if c.suppressed)
        total = Figures.total(c.figures for c in cells)
        cells.sort(key=lambda c: (c.use_case, c.department, c.model))
        return MonthUsage(month, self.k, tuple(cells), remainder, remainder_users, len(hidden), total, total_users)

    async def distinct_users(self, month: str, cells: Sequence[Cell]) -> int:
        """Distinct employees over a set of published cells (for roll-ups)."""
        keys = [c.key for c in cells if not c.suppressed]
        if not keys:
            return 0
        async with self._engine.connect() as conn:
            return await self._distinct(conn, month, keys)

    async def distinct_users_by(self, month: str, cells: Sequence[Cell], by: Sequence[str]) -> dict[tuple[str, ...], int]:
        """Distinct employees of every group of published cells by some dimensions, in one query.

        For the cells the last `month()` published, the grouping's maintained counts less,
        per group, the employees whose every cell of that group is hidden (only employees
        of hidden cells can be, so only their cells are read); otherwise one COUNT(DISTINCT)."""
        published = {c.key for c in cells if not c.suppressed}
        if not published:
            return {}
        known = self._last_month.get(month)
        if known is not None and known.published == published:
            return await self._published_counts(month, by, known)
        columns = [_PRESENCE_COLUMNS[dim] for dim in by]
        query = (select(*columns, func.count(func.distinct(MonthlyPresence.employee_pseudonym)))
                 .where(MonthlyPresence.month == month, _cell_key().in_(sorted(published))).group_by(*columns))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {tuple(row[:-1]): int(row[-1]) for row in rows}

    async def _published_counts(self, month: str, by: Sequence[str], known: _Suppressed) -> dict[tuple[str, ...], int]:
        async with self._engine.connect() as conn:
            counted = await _counts(conn, month, presence_rollup.grouping_name(by))
            seen: dict[str, set[tuple[str, str, str]]] = {}
            people = sorted(known.hidden_users)
            for first in range(0, len(people), _IN_CHUNK):
                query = select(MonthlyPresence.employee_pseudonym, *_CELL_COLUMNS).where(
                    MonthlyPresence.month == month,
                    MonthlyPresence.employee_pseudonym.in_(people[first:first + _IN_CHUNK]))
                for pseudonym, use_case, department, model in (await conn.execute(query)).all():
                    seen.setdefault(pseudonym, set()).add((use_case, department, model))
        full = {group_of(group_key, by): n for group_key, n in counted.items()}
        for used in seen.values():
            hidden_groups = {group_of(k, by) for k in used if k in known.hidden}
            shown_groups = {group_of(k, by) for k in used if k not in known.hidden}
            for key in hidden_groups - shown_groups:
                full[key] = full.get(key, 0) - 1
        return {key: n for key, n in full.items() if n > 0}

    async def _suppress(self, conn: AsyncConnection, month: str, cells: list[Cell]) -> tuple[list[Cell], set[str]]:
        """Primary then secondary suppression; returns the cells and the employees of
        all suppressed cells together (pseudonyms, kept in this process only). The pseudonyms of the small cells
        are fetched by size (cells of at most N employees, one query), never the whole month."""
        cells = [replace(c, suppressed=True, suppression="primary") if c.distinct_users < self.k else c
                 for c in cells]
        members: dict[tuple[str, str, str], set[str]] = {}
        presence = MonthlyPresence

        async def fetch_up_to(users: int) -> None:
            """Pseudonyms of every cell of at most `users` employees, in one query."""
            small = select(PresenceCount.use_case, PresenceCount.department, PresenceCount.served_model).where(
                PresenceCount.month == month, PresenceCount.grouping == presence_rollup.CELL,
                PresenceCount.users <= users).subquery()
            query = select(*_CELL_COLUMNS, presence.employee_pseudonym).join(small, and_(
                presence.use_case == small.c.use_case, presence.department == small.c.department,
                presence.served_model == small.c.served_model)).where(presence.month == month)
            for use_case, department, model, pseudonym in (await conn.execute(query)).all():
                members.setdefault((use_case, department, model), set()).add(pseudonym)

        await fetch_up_to(self.k - 1)
        hidden_users = set().union(*(members.get(c.key, set()) for c in cells if c.suppressed))
        visible = sorted((c for c in cells if not c.suppressed),
                         key=lambda c: (c.distinct_users, c.figures.requests, c.key))
        secondary: set[tuple[str, str, str]] = set()
        while len(hidden_users) < self.k and len(secondary) < len(visible) and (hidden_users or secondary):
            smallest = visible[len(secondary)]
            if smallest.key not in members:
                await fetch_up_to(visible[min(len(visible) - 1, len(secondary) + 32)].distinct_users)
            secondary.add(smallest.key)
            hidden_users |= members.get(smallest.key, set())
        if not any(c.suppressed for c in cells):
            return cells, set()
        cells = [replace(c, suppressed=True, suppression="secondary") if c.key in secondary else c for c in cells]
        return cells, hidden_users

    @staticmethod
    async def _distinct(conn: AsyncConnection, month: str, keys: Sequence[tuple[str, str, str]] | None) -> int:
        """Distinct employees over some cells of the month (None: all of them)."""
        if keys is not None and not keys:
            return 0
        query = select(func.count(func.distinct(MonthlyPresence.employee_pseudonym))).where(
            MonthlyPresence.month == month)
        if keys is not None:
            query = query.where(_cell_key().in_(sorted(set(keys))))
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
