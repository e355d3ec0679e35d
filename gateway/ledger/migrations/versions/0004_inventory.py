"""Inventory of use cases: current records and their versions.

Revision ID: 0004_inventory
Revises: 0001_initial
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_inventory"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inventory_use_cases",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("risk_class", sa.String(16), nullable=False),
        sa.Column("next_review", sa.Date),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
    )
    op.create_index("ix_inventory_use_cases_department", "inventory_use_cases", ["department"])
    op.create_index("ix_inventory_use_cases_status", "inventory_use_cases", ["status"])
    op.create_index("ix_inventory_use_cases_risk_class", "inventory_use_cases", ["risk_class"])
    op.create_table(
        "inventory_use_case_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("use_case_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("change", sa.String(32), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.UniqueConstraint("use_case_id", "version", name="uq_inventory_version"),
    )
    op.create_index("ix_inventory_use_case_versions_use_case_id", "inventory_use_case_versions", ["use_case_id"])


def downgrade() -> None:
    op.drop_table("inventory_use_case_versions")
    op.drop_table("inventory_use_cases")
