"""Distinct employees, maintained: who used each group of each grouping in a month.

A committee grouping (by use case, by department and model, ...) publishes how many
distinct employees each group covers. Counting them from the month's cells
(`usage_presence_monthly`: month x cell x pseudonym) means a COUNT(DISTINCT) over
every cell of the month, close to a million rows for 10M ledger rows. So the writer
keeps, in the transaction that writes the rows:

- `usage_presence_grouped`: month x grouping x group x pseudonym for every coarser
  grouping (each subset of use case, department, model; "all" for the month), a
  dimension the grouping drops stored as "";
- `usage_presence_counts`: month x grouping x group -> distinct employees, cells
  included (grouping `CELL`). A pseudonym new to a group adds one: on PostgreSQL the
  presence insert returns what it really inserted and the count takes exactly that, so
  concurrent writers and replays never count anyone twice; elsewhere the touched groups
  are recounted from the presence.

Readers take a grouping's counts in one indexed read; `recount` recomputes the counts
of some months from the presence (rebuilds, upgrades).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from itertools import combinations
from typing import Any

from sqlalchemy import Table, delete, func, literal, select, text, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.ledger.tables import GroupPresence, MonthlyPresence, PresenceCount

DIMENSIONS = ("use_case", "department", "model")
COLUMNS = {"use_case": "use_case", "department": "department", "model": "served_model"}
"""The presence column each committee dimension is stored in."""
CELL = "use_case+department+model"
ALL = "all"
CELLS: Table = MonthlyPresence.__table__  # type: ignore[assignment]
GROUPED: Table = GroupPresence.__table__  # type: ignore[assignment]
COUNTS: Table = PresenceCount.__table__  # type: ignore[assignment]
_KEY = ("use_case", "department", "served_model")


def grouping_name(dimensions: Iterable[str]) -> str:
    """The grouping of some committee dimensions, whatever their order ("all" for none)."""
    wanted = set(dimensions)
    unknown = wanted - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown dimensions: {sorted(unknown)}")
    kept = [d for d in DIMENSIONS if d in wanted]
    return "+".join(kept) if kept else ALL


COARSER: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (grouping_name(kept), kept) for size in range(len(DIMENSIONS)) for kept in combinations(DIMENSIONS, size))
"""Every grouping coarser than the cell, with the dimensions it keeps."""


def group_columns(kept: Sequence[str], values: Mapping[str, str]) -> dict[str, str]:
    """A group's key columns: the kept dimensions' values, "" for the others."""
    return {COLUMNS[d]: values[COLUMNS[d]] if d in kept else "" for d in DIMENSIONS}


def grouped_entries(cells: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """The coarser presence implied by some cell presence entries, one entry per key, sorted."""
    entries: dict[tuple[str, ...], dict[str, str]] = {}
    for cell in cells:
        for name, kept in COARSER:
            entry = {"month": cell["month"], "grouping": name, **group_columns(kept, cell),
                     "employee_pseudonym": cell["employee_pseudonym"]}
            entries.setdefault(tuple(entry[c.name] for c in GROUPED.primary_key.columns), entry)
    return [entries[key] for key in sorted(entries)]


def counting_insert_sql(presence_sql: str, grouping: str | None) -> str:
    """Wrap a presence `INSERT ... RETURNING month, [grouping,] use_case, department,
    served_model` so that the counts take one per row it really inserted (PostgreSQL)."""
    group = "grouping" if grouping is None else f"'{grouping}'"
    return (
        f"WITH fresh AS ({presence_sql}) "
        "INSERT INTO usage_presence_counts (month, grouping, use_case, department, served_model, users) "
        f"SELECT month, {group}, use_case, department, served_model, count(*) FROM fresh "
        "GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5 "
        "ON CONFLICT (month, grouping, use_case, department, served_model) "
        "DO UPDATE SET users = usage_presence_counts.users + EXCLUDED.users"
    )


_RECOUNT_CELL = text(
    "INSERT INTO usage_presence_counts (month, grouping, use_case, department, served_model, users) "
    f"SELECT :month, '{CELL}', :use_case, :department, :served_model, count(*) FROM usage_presence_monthly "
    "WHERE month = :month AND use_case = :use_case AND department = :department AND served_model = :served_model "
    "ON CONFLICT (month, grouping, use_case, department, served_model) DO UPDATE SET users = excluded.users")
_RECOUNT_GROUP = text(
    "INSERT INTO usage_presence_counts (month, grouping, use_case, department, served_model, users) "
    "SELECT :month, :grouping, :use_case, :department, :served_model, count(*) FROM usage_presence_grouped "
    "WHERE month = :month AND grouping = :grouping AND use_case = :use_case AND department = :department "
    "AND served_model = :served_model "
    "ON CONFLICT (month, grouping, use_case, department, served_model) DO UPDATE SET users = excluded.users")


async def add_by_recount(connection: AsyncConnection, cells: Sequence[Mapping[str, str]],
                         grouped: Sequence[Mapping[str, str]]) -> None:
    """Insert presence entries, then recount every group they touch (the portable way)."""
    dialect = connection.dialect.name
    await connection.execute(_insert_new(dialect, CELLS), list(cells))
    await connection.execute(_insert_new(dialect, GROUPED), list(grouped))
    touched_cells = sorted({(c["month"], *(c[k] for k in _KEY)) for c in cells})
    touched_groups = sorted({(g["month"], g["grouping"], *(g[k] for k in _KEY)) for g in grouped})
    await connection.execute(_RECOUNT_CELL, [dict(zip(("month", *_KEY), key, strict=True)) for key in touched_cells])
    await connection.execute(_RECOUNT_GROUP, [dict(zip(("month", "grouping", *_KEY), key, strict=True))
                                              for key in touched_groups])


@lru_cache(maxsize=8)
def _insert_new(dialect: str, table: Table) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING` into `table`, built once (not once per batch)."""
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    return insert(table).on_conflict_do_nothing()


def grouped_from_cells(dialect: str, months: Sequence[str] | None = None) -> list[Any]:
    """INSERT ... SELECT deriving the coarser presence from the cell presence (of `months`,
    or all): a projection, so it is exact whenever the cells are."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    chosen = CELLS.c.month.in_(list(months)) if months is not None else CELLS.c.month.is_not(None)
    statements = []
    for name, kept in COARSER:
        columns = [CELLS.c[COLUMNS[d]] if d in kept else literal("") for d in DIMENSIONS]
        query = select(CELLS.c.month, literal(name), *columns, CELLS.c.employee_pseudonym).where(chosen).distinct()
        statements.append(insert(GROUPED).from_select(
            ["month", "grouping", "use_case", "department", "served_model", "employee_pseudonym"], query
        ).on_conflict_do_nothing())
    return statements


def recount_statements(months: Sequence[str] | None = None) -> list[Any]:
    """DELETE then INSERT ... SELECT recomputing the counts of `months` (or all) from the
    presence, cells and coarser groupings alike."""
    cells_of = CELLS.c.month.in_(list(months)) if months is not None else CELLS.c.month.is_not(None)
    groups_of = GROUPED.c.month.in_(list(months)) if months is not None else GROUPED.c.month.is_not(None)
    cell_counts = (select(CELLS.c.month, literal(CELL).label("grouping"), CELLS.c.use_case, CELLS.c.department,
                          CELLS.c.served_model, func.count())
                   .where(cells_of)
                   .group_by(CELLS.c.month, CELLS.c.use_case, CELLS.c.department, CELLS.c.served_model))
    group_counts = (select(GROUPED.c.month, GROUPED.c.grouping, GROUPED.c.use_case, GROUPED.c.department,
                           GROUPED.c.served_model, func.count())
                    .where(groups_of)
                    .group_by(GROUPED.c.month, GROUPED.c.grouping, GROUPED.c.use_case, GROUPED.c.department,
                              GROUPED.c.served_model))
    cleared = delete(COUNTS).where(COUNTS.c.month.in_(list(months))) if months is not None else delete(COUNTS)
    return [cleared, COUNTS.insert().from_select(
        ["month", "grouping", "use_case", "department", "served_model", "users"], union_all(cell_counts, group_counts))]
