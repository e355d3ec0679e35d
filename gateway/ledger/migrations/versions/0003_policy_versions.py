"""Policy history: the versions of the routing policy that were loaded.

Revision ID: 0003_policy_versions
Revises: 0001_initial
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_policy_versions"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(64), nullable=False, index=True),
        sa.Column("version_label", sa.String(128), nullable=False, server_default=""),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("source", sa.String(256), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("policy_versions")
