"""Database tables of the ledger, keys and audit log (SQLAlchemy 2 declarative).

Money is stored as integer micro-euros and carbon as integer micro-grams so sums are
exact; the other criteria are floats with their unit in the column name. No prompt or
completion text is ever stored here.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from contracts.tables import Base  # every table, the gateway's and the policies', on one metadata


BIG_ID = BigInteger().with_variant(Integer, "sqlite")
"""64-bit ids; SQLite's rowid is already 64-bit and needs the INTEGER spelling to autoincrement."""


class UsageRecord(Base):
    """One request through the gateway, whatever its outcome.

    On PostgreSQL the table is partitioned by month of `started_at` (see
    `gateway.ledger.partitions`), so uniqueness is on (request_id, started_at): a
    replayed record carries the same pair and is ignored."""

    __tablename__ = "usage_records"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    employee_pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    department: Mapped[str] = mapped_column(String(64))
    roles: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32))
    use_case: Mapped[str] = mapped_column(String(64))
    requested_model: Mapped[str] = mapped_column(String(128))
    served_model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    rule_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    policy_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    classifier_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    classifier_runner_up: Mapped[str | None] = mapped_column(String(64), nullable=True)
    classifier_runner_up_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    classifier_low_confidence: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    status: Mapped[str] = mapped_column(String(48))
    http_status: Mapped[int] = mapped_column(Integer)
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    max_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    ttft_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    cost_micro_eur: Mapped[int] = mapped_column(BigInteger, default=0)
    gwp_ug: Mapped[int] = mapped_column(BigInteger, default=0)
    gwp_g_min: Mapped[float] = mapped_column(Float, default=0.0)
    gwp_g_max: Mapped[float] = mapped_column(Float, default=0.0)
    gwp_market_ug: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    energy_wh: Mapped[float] = mapped_column(Float, default=0.0)
    energy_wh_min: Mapped[float] = mapped_column(Float, default=0.0)
    energy_wh_max: Mapped[float] = mapped_column(Float, default=0.0)
    water_ml: Mapped[float] = mapped_column(Float, default=0.0)
    adpe_kgsbeq: Mapped[float] = mapped_column(Float, default=0.0)
    pe_mj: Mapped[float] = mapped_column(Float, default=0.0)
    impact_method: Mapped[str | None] = mapped_column(String(64), nullable=True)
    factor_set_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    impact_source: Mapped[str | None] = mapped_column(String(32), nullable=True)
    impacts_detail: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    catalogue_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    impact_inputs: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    impact_warnings: Mapped[str | None] = mapped_column(String(500), nullable=True)
    error_message: Mapped[str | None] = mapped_column(String(500), nullable=True)
    usage_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """Where the token figures come from: provider, counted (no usage returned) or clamped."""

    __table_args__ = (
        Index("ix_usage_use_case_started", "use_case", "started_at"),
        Index("ux_usage_request_started", "request_id", "started_at", unique=True),
        Index("ix_usage_employee_started", "employee_pseudonym", "started_at"),
    )


NO_MODEL = "(none)"
"""`served_model` of a request no model served, in the summaries' keys (which are never NULL)."""


class SpendBucket(Base):
    """Spending of one budget scope in one hour: what a counter rebuild reads.

    `scope` is spelt as budgets spell it ("employee:<pseudonym>", "department:<code>",
    "use_case:<id>", "org"); `hour_s` is the epoch second the hour starts at. A row
    per scope and hour, whatever the number of requests in it."""

    __tablename__ = "usage_spend_hourly"
    # On PostgreSQL the key's index also carries the two figures a rebuild reads, so that
    # read is an index-only scan (migration 0020).
    __table_args__ = (
        PrimaryKeyConstraint("scope", "hour_s", name="usage_spend_hourly_pkey",
                             postgresql_include=["cost_micro_eur", "gwp_ug"]),
    )

    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    hour_s: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micro_eur: Mapped[int] = mapped_column(BigInteger, default=0)
    gwp_ug: Mapped[int] = mapped_column(BigInteger, default=0)


class DailyUsage(Base):
    """Every summable figure per day x use case x department x served model x status
    (and impact method), for committee views, pages and reports.

    Location-based CO2e (`gwp_ug`) and market-based CO2e (`gwp_market_ug`) are summed
    apart; `market_missing_requests` counts the requests that had no market-based
    factor, so a reader can say the market figure does not cover them."""

    __tablename__ = "usage_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    use_case: Mapped[str] = mapped_column(String(64), primary_key=True)
    department: Mapped[str] = mapped_column(String(64), primary_key=True)
    served_model: Mapped[str] = mapped_column(String(128), primary_key=True)
    status: Mapped[str] = mapped_column(String(48), primary_key=True)
    impact_method: Mapped[str] = mapped_column(String(64), primary_key=True)
    factor_set_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micro_eur: Mapped[int] = mapped_column(BigInteger, default=0)
    gwp_ug: Mapped[int] = mapped_column(BigInteger, default=0)
    gwp_g_min: Mapped[float] = mapped_column(Float, default=0.0)
    gwp_g_max: Mapped[float] = mapped_column(Float, default=0.0)
    gwp_market_ug: Mapped[int] = mapped_column(BigInteger, default=0)
    market_missing_requests: Mapped[int] = mapped_column(BigInteger, default=0)
    energy_wh: Mapped[float] = mapped_column(Float, default=0.0)
    energy_wh_min: Mapped[float] = mapped_column(Float, default=0.0)
    energy_wh_max: Mapped[float] = mapped_column(Float, default=0.0)
    water_ml: Mapped[float] = mapped_column(Float, default=0.0)
    adpe_kgsbeq: Mapped[float] = mapped_column(Float, default=0.0)
    pe_mj: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)


class EmployeeDailyUsage(Base):
    """One employee's figures per day and served model: what `/v1/me/usage` reads."""

    __tablename__ = "usage_employee_daily"

    employee_pseudonym: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    served_model: Mapped[str] = mapped_column(String(128), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micro_eur: Mapped[int] = mapped_column(BigInteger, default=0)
    gwp_ug: Mapped[int] = mapped_column(BigInteger, default=0)
    energy_wh: Mapped[float] = mapped_column(Float, default=0.0)
    water_ml: Mapped[float] = mapped_column(Float, default=0.0)


class _GroupKey:
    """The use case, department and served model that key every presence table, placed
    after the table's own leading key columns (their `sort_order` is 0, the columns that
    follow the group take 1)."""

    use_case: Mapped[str] = mapped_column(String(64), primary_key=True)
    department: Mapped[str] = mapped_column(String(64), primary_key=True)
    served_model: Mapped[str] = mapped_column(String(128), primary_key=True)


class MonthlyPresence(_GroupKey, Base):
    """Which employee pseudonyms used each cell (use case x department x model) in a
    month: distinct users of any grouping are one COUNT(DISTINCT) over it."""

    __tablename__ = "usage_presence_monthly"
    __table_args__ = (Index("ix_presence_month_employee", "month", "employee_pseudonym"),)

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    employee_pseudonym: Mapped[str] = mapped_column(String(64), primary_key=True, sort_order=1)


class GroupPresence(_GroupKey, Base):
    """Which employee pseudonyms used each group of a coarser grouping in a month.

    `grouping` names the dimensions kept (`PresenceGrouping`: "use_case",
    "use_case+model", "all", ...); a dimension the grouping drops is stored as "". With
    it, the distinct users of every group of a committee grouping are counted from a
    table about as large as that grouping times its employees, not the month's cells."""

    __tablename__ = "usage_presence_grouped"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    grouping: Mapped[str] = mapped_column(String(40), primary_key=True)
    employee_pseudonym: Mapped[str] = mapped_column(String(64), primary_key=True, sort_order=1)


class PresenceCount(_GroupKey, Base):
    """Distinct employees per month x grouping x group, maintained with the presence:
    a pseudonym new to a group adds one, in the transaction that writes it. Cells are the
    grouping "use_case+department+model" (counted from `usage_presence_monthly`)."""

    __tablename__ = "usage_presence_counts"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    grouping: Mapped[str] = mapped_column(String(40), primary_key=True)
    users: Mapped[int] = mapped_column(BigInteger, default=0, sort_order=1)


class ImpactRestatement(Base):
    """A request's figures before a restatement: kept so no stated figure is ever lost."""

    __tablename__ = "impact_restatements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    restated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    from_factor_set: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_factor_set: Mapped[str] = mapped_column(String(32))
    from_method: Mapped[str | None] = mapped_column(String(64), nullable=True)
    gwp_ug: Mapped[int] = mapped_column(BigInteger)
    gwp_g_min: Mapped[float] = mapped_column(Float)
    gwp_g_max: Mapped[float] = mapped_column(Float)
    gwp_market_ug: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    energy_wh: Mapped[float] = mapped_column(Float)
    energy_wh_min: Mapped[float] = mapped_column(Float)
    energy_wh_max: Mapped[float] = mapped_column(Float)
    water_ml: Mapped[float] = mapped_column(Float)
    adpe_kgsbeq: Mapped[float] = mapped_column(Float)
    pe_mj: Mapped[float] = mapped_column(Float)
    impacts_detail: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class ApiKey(Base):
    """An API key: only its SHA-256 is kept; the key itself is shown once at creation."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    employee_id: Mapped[str] = mapped_column(String(128))
    department: Mapped[str] = mapped_column(String(64))
    roles: Mapped[str] = mapped_column(String(64))
    trusted_frontend: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditEntry(Base):
    """Append-only record of an admin or committee action, hash-chained to the previous one."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
