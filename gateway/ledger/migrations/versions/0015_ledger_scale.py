"""Ledger at scale: roll-up tables, 64-bit ids, monthly partitions on PostgreSQL.

On PostgreSQL `usage_records` becomes a table partitioned by month of `started_at`
(with a DEFAULT partition); its rows are copied over. Uniqueness moves to
(request_id, started_at), which a partitioned table can enforce. The roll-ups are
filled from the rows already in the ledger, so an upgraded gateway rebuilds budgets
and shows committee figures at once (`sobria ledger rollup --rebuild` repairs them).

Revision ID: 0015_ledger_scale
Revises: 0001_initial
Create Date: 2026-12-02
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from gateway.ledger import partitions, rollups

revision = "0015_ledger_scale"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def _summaries() -> None:
    op.create_table(
        "usage_spend_hourly",
        sa.Column("scope", sa.String(80), primary_key=True),
        sa.Column("hour_s", sa.BigInteger, primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("cost_micro_eur", sa.BigInteger, nullable=False),
        sa.Column("gwp_ug", sa.BigInteger, nullable=False),
    )
    figures = [
        sa.Column(name, sa.BigInteger, nullable=False)
        for name in ("requests", "input_tokens", "output_tokens", "cost_micro_eur", "gwp_ug")
    ]
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("use_case", sa.String(64), primary_key=True),
        sa.Column("department", sa.String(64), primary_key=True),
        sa.Column("served_model", sa.String(128), primary_key=True),
        sa.Column("status", sa.String(48), primary_key=True),
        sa.Column("impact_method", sa.String(64), primary_key=True),
        sa.Column("factor_set_version", sa.String(32), primary_key=True),
        *[c.copy() for c in figures],
        sa.Column("gwp_g_min", sa.Float, nullable=False),
        sa.Column("gwp_g_max", sa.Float, nullable=False),
        sa.Column("gwp_market_ug", sa.BigInteger, nullable=False),
        sa.Column("market_missing_requests", sa.BigInteger, nullable=False),
        *[sa.Column(name, sa.Float, nullable=False) for name in (
            "energy_wh", "energy_wh_min", "energy_wh_max", "water_ml", "adpe_kgsbeq", "pe_mj", "latency_ms")],
    )
    op.create_table(
        "usage_employee_daily",
        sa.Column("employee_pseudonym", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("served_model", sa.String(128), primary_key=True),
        *[c.copy() for c in figures],
        sa.Column("energy_wh", sa.Float, nullable=False),
        sa.Column("water_ml", sa.Float, nullable=False),
    )
    op.create_table(
        "usage_presence_monthly",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("use_case", sa.String(64), primary_key=True),
        sa.Column("department", sa.String(64), primary_key=True),
        sa.Column("served_model", sa.String(128), primary_key=True),
        sa.Column("employee_pseudonym", sa.String(64), primary_key=True),
    )


def _partition_postgresql(bind: sa.engine.Connection) -> None:
    old = "usage_records_unpartitioned"
    op.execute(f"ALTER TABLE usage_records RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} DROP CONSTRAINT IF EXISTS usage_records_pkey")
    op.execute(f"ALTER TABLE {old} DROP CONSTRAINT IF EXISTS usage_records_request_id_key")
    for index in ("ix_usage_records_started_at", "ix_usage_records_employee_pseudonym", "ix_usage_use_case_started"):
        op.execute(f"DROP INDEX IF EXISTS {index}")
    op.execute(f"CREATE TABLE usage_records (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE (started_at)")
    op.execute("ALTER SEQUENCE IF EXISTS usage_records_id_seq AS bigint")
    op.execute("ALTER TABLE usage_records ALTER COLUMN id TYPE bigint")
    op.execute("ALTER SEQUENCE IF EXISTS usage_records_id_seq OWNED BY usage_records.id")
    op.execute("ALTER TABLE usage_records ADD PRIMARY KEY (id, started_at)")
    op.create_index("ux_usage_request_started", "usage_records", ["request_id", "started_at"], unique=True)
    op.create_index("ix_usage_records_started_at", "usage_records", ["started_at"])
    op.create_index("ix_usage_employee_started", "usage_records", ["employee_pseudonym", "started_at"])
    op.create_index("ix_usage_use_case_started", "usage_records", ["use_case", "started_at"])
    low, high = bind.execute(sa.text(f"SELECT min(started_at), max(started_at) FROM {old}")).one()
    today = datetime.now(UTC).date()
    first = min(low.astimezone(UTC).date(), today) if low else today
    last = max(high.astimezone(UTC).date(), today) if high else today
    partitions.ensure_partitions(bind, first, partitions.month_start(last, partitions.AHEAD_MONTHS))
    partitions.ensure_default_partition(bind)
    op.execute(f"INSERT INTO usage_records SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old}")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _partition_postgresql(bind)
    else:
        op.create_index("ux_usage_request_started", "usage_records", ["request_id", "started_at"], unique=True)
        op.create_index("ix_usage_employee_started", "usage_records", ["employee_pseudonym", "started_at"])
    _summaries()
    far_past, far_future = datetime(1970, 1, 2, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
    for statement in rollups.rebuild_statements(bind.dialect.name, far_past, far_future):
        bind.execute(statement)


def downgrade() -> None:
    for table in ("usage_presence_monthly", "usage_employee_daily", "usage_daily", "usage_spend_hourly"):
        op.drop_table(table)
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.drop_index("ix_usage_employee_started", table_name="usage_records")
        op.drop_index("ux_usage_request_started", table_name="usage_records")
