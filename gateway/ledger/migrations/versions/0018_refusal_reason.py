"""The refused-access trace names why each request was refused.

Revision ID: 0018_refusal_reason
Revises: 0005_content_log
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_refusal_reason"
down_revision = "0005_content_log"  # the table it extends is created there
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("access_refusals", sa.Column("reason", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("access_refusals") as batch:
        batch.drop_column("reason")
