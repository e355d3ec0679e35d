"""Usage ledger, API keys and audit log.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False, unique=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("employee_pseudonym", sa.String(64), nullable=False, index=True),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("roles", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("use_case", sa.String(64), nullable=False),
        sa.Column("requested_model", sa.String(128), nullable=False),
        sa.Column("served_model", sa.String(128)),
        sa.Column("rule_id", sa.String(64)),
        sa.Column("policy_version", sa.String(64)),
        sa.Column("classifier_confidence", sa.Float),
        sa.Column("status", sa.String(48), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=False),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("demo", sa.Boolean, nullable=False),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("max_tokens", sa.Integer),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("ttft_ms", sa.Float),
        sa.Column("cost_micro_eur", sa.BigInteger, nullable=False),
        sa.Column("gwp_ug", sa.BigInteger, nullable=False),
        sa.Column("gwp_g_min", sa.Float, nullable=False),
        sa.Column("gwp_g_max", sa.Float, nullable=False),
        sa.Column("gwp_market_ug", sa.BigInteger),
        sa.Column("energy_wh", sa.Float, nullable=False),
        sa.Column("energy_wh_min", sa.Float, nullable=False),
        sa.Column("energy_wh_max", sa.Float, nullable=False),
        sa.Column("water_ml", sa.Float, nullable=False),
        sa.Column("adpe_kgsbeq", sa.Float, nullable=False),
        sa.Column("pe_mj", sa.Float, nullable=False),
        sa.Column("impact_method", sa.String(64)),
        sa.Column("factor_set_version", sa.String(32)),
        sa.Column("impact_source", sa.String(32)),
        sa.Column("impacts_detail", sa.JSON),
        sa.Column("error_message", sa.String(500)),
    )
    op.create_index("ix_usage_use_case_started", "usage_records", ["use_case", "started_at"])
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("employee_id", sa.String(128), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("roles", sa.String(64), nullable=False),
        sa.Column("trusted_frontend", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("api_keys")
    op.drop_index("ix_usage_use_case_started", table_name="usage_records")
    op.drop_table("usage_records")
