"""Budget overrides: per-scope budgets set through the admin API.

Revision ID: 0002_budget_overrides
Revises: 0001_initial
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_budget_overrides"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budget_overrides",
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("limit_micro_eur", sa.BigInteger),
        sa.Column("limit_gco2e_ug", sa.BigInteger),
        sa.Column("window", sa.String(32), nullable=False, server_default="rolling"),
        sa.Column("window_days", sa.Integer, nullable=False, server_default="30"),
        sa.Column("bucket_minutes", sa.Integer, nullable=False, server_default="60"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("budget_overrides")
