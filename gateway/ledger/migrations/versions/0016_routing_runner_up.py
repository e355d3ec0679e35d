"""Routing: the classifier's runner-up use case and whether the prediction was uncertain.

Revision ID: 0016_routing_runner_up
Revises: 0001_initial
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_routing_runner_up"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("classifier_runner_up", sa.String(64), nullable=True))
        batch.add_column(sa.Column("classifier_runner_up_confidence", sa.Float, nullable=True))
        batch.add_column(sa.Column("classifier_low_confidence", sa.Boolean, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("classifier_low_confidence")
        batch.drop_column("classifier_runner_up_confidence")
        batch.drop_column("classifier_runner_up")
