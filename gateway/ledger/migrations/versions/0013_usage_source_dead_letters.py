"""Where a record's token figures come from, and the rows the database refused.

Revision ID: 0013_usage_source_dead_letters
Revises: 0001_initial
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_usage_source_dead_letters"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("usage_records", sa.Column("usage_source", sa.String(16), nullable=True))
    op.create_table(
        "ledger_dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("row", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("ledger_dead_letters")
    op.drop_column("usage_records", "usage_source")
