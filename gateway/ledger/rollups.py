"""Roll-ups of the ledger, maintained in the same transaction as the rows they sum.

Four summaries, each at the grain one family of readers needs, none growing with the
number of requests:

- `usage_spend_hourly`: spending per budget scope and hour (counter rebuilds);
- `usage_daily`: every summable figure per day x use case x department x served model
  x status x impact method (committee views, pages, `sobria report`);
- `usage_employee_daily`: one employee's figures per day x served model (`/v1/me/usage`);
- `usage_presence_monthly`: month x cell x employee pseudonym, with the coarser
  presence and the distinct-user counts kept beside it (`gateway.ledger.presence`).

`apply` adds the rows a batch actually inserted (the writer passes what the database
returned, so a replayed or duplicate record never counts twice). The batch is folded
in Python to one delta per summary cell first; on PostgreSQL each summary then takes
one `INSERT ... SELECT FROM unnest(<one array per column>) ON CONFLICT` statement
(one round trip, whatever the batch size), elsewhere an executemany upsert. `rebuild_day`
recomputes one UTC day from the raw rows, for an upgraded ledger or a repair; on
PostgreSQL it locks the summaries against concurrent writers for that short
transaction, so a day rebuilt while the gateway runs stays exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import json
from functools import lru_cache

from sqlalchemy import (
    JSON,
    BigInteger,
    Integer,
    String,
    Table,
    Text,
    cast,
    delete,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from gateway.ledger import presence as presence_rollup
from gateway.ledger.tables import (
    NO_MODEL,
    DailyUsage,
    EmployeeDailyUsage,
    MonthlyPresence,
    SpendBucket,
    UsageRecord,
)

HOUR_S = 3600
SPEND: Table = SpendBucket.__table__  # type: ignore[assignment]
DAILY: Table = DailyUsage.__table__  # type: ignore[assignment]
EMPLOYEE: Table = EmployeeDailyUsage.__table__  # type: ignore[assignment]
PRESENCE: Table = MonthlyPresence.__table__  # type: ignore[assignment]
SUMMARY_TABLES: tuple[Table, ...] = (SPEND, DAILY, EMPLOYEE, PRESENCE, presence_rollup.GROUPED,
                                     presence_rollup.COUNTS)

_DAILY_KEY = ("day", "use_case", "department", "served_model", "status", "impact_method", "factor_set_version")
_DAILY_SUMS = (
    "input_tokens", "output_tokens", "cost_micro_eur", "gwp_ug", "gwp_g_min", "gwp_g_max",
    "energy_wh", "energy_wh_min", "energy_wh_max", "water_ml", "adpe_kgsbeq", "pe_mj", "latency_ms",
)
_EMPLOYEE_KEY = ("employee_pseudonym", "day", "served_model")
_EMPLOYEE_SUMS = ("input_tokens", "output_tokens", "cost_micro_eur", "gwp_ug", "energy_wh", "water_ml")

RETURNED_COLUMNS = tuple(
    getattr(UsageRecord, name)
    for name in (
        "started_at", "employee_pseudonym", "department", "use_case", "served_model", "status",
        "impact_method", "factor_set_version", "gwp_market_ug", *_DAILY_SUMS,
    )
)
"""What the writer asks the insert to return: the fields every summary is computed from."""


def utc(moment: datetime) -> datetime:
    """The instant in UTC; naive datetimes (SQLite, the spool) are taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def budget_scopes(row: Mapping[str, Any]) -> tuple[str, ...]:
    """The budget scopes a ledger row spends on, spelt as `BudgetLimit.scope`."""
    return (f"employee:{row['employee_pseudonym']}", f"department:{row['department']}",
            f"use_case:{row['use_case']}", "org")


@dataclass(slots=True)
class _Sums:
    values: dict[str, Any]

    def add(self, row: Mapping[str, Any], names: Iterable[str]) -> None:
        for name in names:
            self.values[name] += row[name] or 0


def _fold(rows: Sequence[Mapping[str, Any]]) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    spend: dict[tuple, dict[str, Any]] = {}
    daily: dict[tuple, dict[str, Any]] = {}
    employee: dict[tuple, dict[str, Any]] = {}
    presence: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        started = utc(row["started_at"])
        day, hour = started.date(), int(started.timestamp()) // HOUR_S * HOUR_S
        model = row["served_model"] or NO_MODEL
        for scope in budget_scopes(row):
            cell = spend.setdefault((scope, hour), {"scope": scope, "hour_s": hour, "requests": 0,
                                                    "cost_micro_eur": 0, "gwp_ug": 0})
            cell["requests"] += 1
            cell["cost_micro_eur"] += row["cost_micro_eur"] or 0
            cell["gwp_ug"] += row["gwp_ug"] or 0
        key = (day, row["use_case"], row["department"], model, row["status"],
               row["impact_method"] or "", row["factor_set_version"] or "")
        entry = daily.get(key)
        if entry is None:
            entry = daily[key] = {**dict(zip(_DAILY_KEY, key, strict=True)), "requests": 0, "gwp_market_ug": 0,
                                  "market_missing_requests": 0, **{name: 0 for name in _DAILY_SUMS}}
        entry["requests"] += 1
        for name in _DAILY_SUMS:
            entry[name] += row[name] or 0
        if row["gwp_market_ug"] is None:
            entry["market_missing_requests"] += 1
        else:
            entry["gwp_market_ug"] += row["gwp_market_ug"]
        mine = employee.setdefault((row["employee_pseudonym"], day, model), {
            "employee_pseudonym": row["employee_pseudonym"], "day": day, "served_model": model, "requests": 0,
            **{name: 0 for name in _EMPLOYEE_SUMS}})
        mine["requests"] += 1
        for name in _EMPLOYEE_SUMS:
            mine[name] += row[name] or 0
        month = f"{started.year:04d}-{started.month:02d}"
        presence.setdefault((month, row["use_case"], row["department"], model, row["employee_pseudonym"]), {
            "month": month, "use_case": row["use_case"], "department": row["department"], "served_model": model,
            "employee_pseudonym": row["employee_pseudonym"]})
    # Sorted keys: concurrent writers lock summary rows in the same order (no deadlock).
    return ([spend[k] for k in sorted(spend)], [daily[k] for k in sorted(daily)],
            [employee[k] for k in sorted(employee)], [presence[k] for k in sorted(presence)])


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_PG_DIALECT = postgresql.dialect()


def _pg_array_type(table: Table, name: str) -> str:
    """The array type one column travels in: text for strings and JSON (cast on the way in)."""
    kind = table.c[name].type
    if isinstance(kind, JSON | String | Text):
        return "text[]"
    return f"{kind.compile(dialect=_PG_DIALECT)}[]"


@lru_cache(maxsize=32)
def unnest_insert_sql(table: Table, names: tuple[str, ...], conflict: str, returning: tuple[str, ...] = ()) -> str:
    """`INSERT INTO table (names) SELECT ... FROM unnest($1, $2, ...)`: a whole batch in one
    PostgreSQL statement, one array parameter per column; `conflict` is its ON CONFLICT clause."""
    arrays = ", ".join(f"${i}::{_pg_array_type(table, name)}" for i, name in enumerate(names, 1))
    picked = ", ".join(f"u.{_quoted(n)}::json" if isinstance(table.c[n].type, JSON) else f"u.{_quoted(n)}"
                       for n in names)
    sql = (f"INSERT INTO {_quoted(table.name)} ({', '.join(map(_quoted, names))}) SELECT {picked} "
           f"FROM unnest({arrays}) AS u({', '.join(map(_quoted, names))}) {conflict}")
    if returning:
        sql += " RETURNING " + ", ".join(map(_quoted, returning))
    return sql


def column_arrays(table: Table, names: Sequence[str], entries: Sequence[Mapping[str, Any]]) -> tuple[list, ...]:
    """One list per column of `entries`, as `unnest_insert_sql` takes them. A missing key
    gets the column's scalar default (else NULL); a JSON value is serialised, an explicit
    None as JSON null (what an executemany insert stores)."""
    arrays: list[list[Any]] = []
    for name in names:
        column = table.c[name]
        if isinstance(column.type, JSON):
            arrays.append([json.dumps(e[name]) if name in e else None for e in entries])
            continue
        default = getattr(column.default, "arg", None) if column.default is not None and column.default.is_scalar else None
        arrays.append([e.get(name, default) for e in entries])
    return tuple(arrays)


def _pg_upsert_sql(table: Table) -> tuple[tuple[str, ...], str]:
    names = tuple(c.name for c in table.columns)
    keys = [c.name for c in table.primary_key.columns]
    target = ", ".join(map(_quoted, keys))
    summed = ", ".join(f"{_quoted(n)} = {_quoted(table.name)}.{_quoted(n)} + EXCLUDED.{_quoted(n)}"
                       for n in names if n not in keys)
    return names, unnest_insert_sql(table, names, f"ON CONFLICT ({target}) DO UPDATE SET {summed}")


def _pg_presence_sql(table: Table, returning: tuple[str, ...], grouping: str | None) -> str:
    names = tuple(c.name for c in table.columns)
    return presence_rollup.counting_insert_sql(
        unnest_insert_sql(table, names, "ON CONFLICT DO NOTHING", returning), grouping)


_PG_CELL_PRESENCE = _pg_presence_sql(PRESENCE, ("month", "use_case", "department", "served_model"),
                                     presence_rollup.CELL)
_PG_GROUPED_PRESENCE = _pg_presence_sql(presence_rollup.GROUPED,
                                        ("month", "grouping", "use_case", "department", "served_model"), None)


async def apply(connection: AsyncConnection, rows: Sequence[Mapping[Any, Any]]) -> None:
    """Add freshly inserted ledger rows to every summary, inside the caller's transaction."""
    if not rows:
        return
    spend, daily, employee, presence = _fold(rows)
    grouped = presence_rollup.grouped_entries(presence)
    if connection.dialect.name == "postgresql":
        for table, entries in ((SPEND, spend), (DAILY, daily), (EMPLOYEE, employee)):
            names, sql = _pg_upsert_sql(table)
            await connection.exec_driver_sql(sql, column_arrays(table, names, entries))
        for table, entries, sql in ((PRESENCE, presence, _PG_CELL_PRESENCE),
                                    (presence_rollup.GROUPED, grouped, _PG_GROUPED_PRESENCE)):
            names = tuple(c.name for c in table.columns)
            await connection.exec_driver_sql(sql, column_arrays(table, names, entries))
        return
    for table, entries in ((SPEND, spend), (DAILY, daily), (EMPLOYEE, employee)):
        await connection.execute(_sqlite_upsert(table), entries)
    await presence_rollup.add_by_recount(connection, presence, grouped)


@lru_cache(maxsize=8)
def _sqlite_upsert(table: Table) -> Any:
    """`INSERT ... ON CONFLICT DO UPDATE` adding every figure, built once per table: each
    build makes a new `excluded` alias with its own columns, a reference cycle that a
    statement built per batch would leave to the garbage collector."""
    statement = sqlite_insert(table)
    keys = [c.name for c in table.primary_key.columns]
    summed = {c.name: c + statement.excluded[c.name] for c in table.columns if c.name not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=summed)


# Rebuilding from raw rows -------------------------------------------------------------


def sql_hour(dialect: str) -> ColumnElement[int]:
    """Epoch second of the start of the hour holding `started_at`, in SQL."""
    if dialect == "sqlite":
        return (cast(func.strftime("%s", UsageRecord.started_at), Integer) // HOUR_S) * HOUR_S
    return cast(func.floor(func.extract("epoch", UsageRecord.started_at) / HOUR_S), BigInteger) * HOUR_S


def sql_day(dialect: str) -> ColumnElement[date]:
    if dialect == "sqlite":
        return func.date(UsageRecord.started_at)
    return cast(func.timezone("UTC", UsageRecord.started_at), type_=DAILY.c.day.type)


def sql_month(dialect: str) -> ColumnElement[str]:
    if dialect == "sqlite":
        return func.strftime("%Y-%m", UsageRecord.started_at)
    return func.to_char(func.timezone("UTC", UsageRecord.started_at), "YYYY-MM")


def _model() -> ColumnElement[str]:
    return func.coalesce(UsageRecord.served_model, literal(NO_MODEL))


def _sum(column: Any) -> ColumnElement[Any]:
    return func.coalesce(func.sum(column), 0)


def rebuild_statements(dialect: str, start: datetime, end: datetime) -> list[Any]:
    """INSERT ... SELECT statements recomputing spend, daily and employee summaries and
    the cell presence of the raw rows in [start, end) (the caller deletes the old figures
    first; the coarser presence and the counts follow from the cells:
    `presence.grouped_from_cells`, then `presence.recount_statements`)."""
    in_range = (UsageRecord.started_at >= start, UsageRecord.started_at < end)
    hour = sql_hour(dialect).label("hour_s")
    scoped = [
        select(literal(prefix) + column if prefix else literal("org"), UsageRecord.cost_micro_eur,
               UsageRecord.gwp_ug, hour).where(*in_range)
        for prefix, column in (("employee:", UsageRecord.employee_pseudonym), ("department:", UsageRecord.department),
                               ("use_case:", UsageRecord.use_case), ("", None))
    ]
    spend_rows = union_all(*scoped).subquery()
    scope, cost, gwp, hour_col = spend_rows.c
    spend = select(scope, hour_col, func.count(), func.sum(cost), func.sum(gwp)).group_by(scope, hour_col)
    day = sql_day(dialect)
    daily_keys = [day, UsageRecord.use_case, UsageRecord.department, _model(), UsageRecord.status,
                  func.coalesce(UsageRecord.impact_method, ""), func.coalesce(UsageRecord.factor_set_version, "")]
    daily = (
        select(*daily_keys, func.count(), *(_sum(getattr(UsageRecord, n)) for n in _DAILY_SUMS),
               _sum(UsageRecord.gwp_market_ug), func.count() - func.count(UsageRecord.gwp_market_ug))
        .where(*in_range).group_by(*daily_keys)
    )
    employee_keys = [UsageRecord.employee_pseudonym, day, _model()]
    employee = (
        select(*employee_keys, func.count(), *(_sum(getattr(UsageRecord, n)) for n in _EMPLOYEE_SUMS))
        .where(*in_range).group_by(*employee_keys)
    )
    presence_keys = [sql_month(dialect), UsageRecord.use_case, UsageRecord.department, _model(),
                     UsageRecord.employee_pseudonym]
    presence = select(*presence_keys).where(*in_range).distinct()
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return [
        insert(SPEND).from_select(["scope", "hour_s", "requests", "cost_micro_eur", "gwp_ug"], spend),
        insert(DAILY).from_select(
            [*_DAILY_KEY, "requests", *_DAILY_SUMS, "gwp_market_ug", "market_missing_requests"], daily),
        insert(EMPLOYEE).from_select([*_EMPLOYEE_KEY, "requests", *_EMPLOYEE_SUMS], employee),
        insert(PRESENCE).from_select(
            ["month", "use_case", "department", "served_model", "employee_pseudonym"], presence
        ).on_conflict_do_nothing(),
    ]


def delete_statements(start: datetime, end: datetime) -> list[Any]:
    """Remove the summaries of [start, end), whole UTC days (presence is kept: it is a
    set, re-adding a pseudonym is idempotent)."""
    first, last = start.date(), end.date()
    return [
        delete(SPEND).where(SpendBucket.hour_s >= int(start.timestamp()),
                                            SpendBucket.hour_s < int(end.timestamp())),
        delete(DAILY).where(DailyUsage.day >= first, DailyUsage.day < last),
        delete(EMPLOYEE).where(EmployeeDailyUsage.day >= first, EmployeeDailyUsage.day < last),
    ]


async def rebuild_day(connection: AsyncConnection, day: date) -> None:
    """Recompute one UTC day of every summary from the raw rows (caller's transaction)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    dialect = connection.dialect.name
    if dialect == "postgresql":
        names = ", ".join(t.name for t in SUMMARY_TABLES)
        await connection.exec_driver_sql(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE")
    for statement in delete_statements(start, end):
        await connection.execute(statement)
    for statement in rebuild_statements(dialect, start, end):
        await connection.execute(statement)
    month = [f"{day.year:04d}-{day.month:02d}"]
    for statement in (*presence_rollup.grouped_from_cells(dialect, month), *presence_rollup.recount_statements(month)):
        await connection.execute(statement)


async def clear_presence_months(connection: AsyncConnection, first: date, end: date) -> list[str]:
    """Drop the presence of the months wholly inside [first, end): a rebuild re-adds it."""
    months = []
    cursor = date(first.year, first.month, 1)
    if cursor < first:
        cursor = _next_month(cursor)
    while _next_month(cursor) <= end:
        months.append(f"{cursor.year:04d}-{cursor.month:02d}")
        cursor = _next_month(cursor)
    if months:
        for table in (PRESENCE, presence_rollup.GROUPED, presence_rollup.COUNTS):
            await connection.execute(delete(table).where(table.c.month.in_(months)))
    return months


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


async def ledger_days(engine: AsyncEngine) -> tuple[date, date] | None:
    """First and last UTC day holding raw rows, or None for an empty ledger."""
    async with engine.connect() as connection:
        low, high = (await connection.execute(
            select(func.min(UsageRecord.started_at), func.max(UsageRecord.started_at)))).one()
    if low is None:
        return None
    return _as_datetime(low).date(), _as_datetime(high).date()


def _as_datetime(value: datetime | str) -> datetime:
    return utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


async def rebuild(engine: AsyncEngine, first: date, last: date, progress: Callable[[date, int, int], None]) -> int:
    """Recompute the summaries of days [first, last], one day per transaction.

    Calls `progress(day, done, total)` after each day; returns the number of days."""
    total = (last - first).days + 1
    async with engine.begin() as connection:
        await clear_presence_months(connection, first, last + timedelta(days=1))
    for done in range(total):
        day = first + timedelta(days=done)
        async with engine.begin() as connection:
            await rebuild_day(connection, day)
        progress(day, done + 1, total)
    return total
