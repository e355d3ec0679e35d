"""Measured mode: codecarbon windows and each request's measured share.

Revision ID: 0006_measurement_windows
Revises: 0001_initial
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_measurement_windows"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "measurement_windows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False, index=True),
        sa.Column("zone", sa.String(8), nullable=False),
        sa.Column("energy_wh", sa.Float, nullable=False),
        sa.Column("gwp_g", sa.Float, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("tracking_mode", sa.String(16), nullable=False),
        sa.Column("method_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "measured_shares",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("window_id", sa.Integer, sa.ForeignKey("measurement_windows.id"), nullable=False, index=True),
        sa.Column("energy_wh", sa.Float, nullable=False),
        sa.Column("gwp_g", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("measured_shares")
    op.drop_table("measurement_windows")
