"""Restatable impacts: catalogue version, estimator inputs and warnings on each row; restatements;
what produced each measurement window's energy (RAPL, NVML or "estimated (TDP)").

Revision ID: 0017_impact_restatement
Revises: 0001_initial
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_impact_restatement"
down_revision = "0001_initial"
branch_labels = None
depends_on = ("0006_measurement_windows",)


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("catalogue_version", sa.String(32), nullable=True))
        batch.add_column(sa.Column("impact_inputs", sa.JSON, nullable=True))
        batch.add_column(sa.Column("impact_warnings", sa.String(500), nullable=True))
    op.create_table(
        "impact_restatements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False, index=True),
        sa.Column("restated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_factor_set", sa.String(32), nullable=True),
        sa.Column("to_factor_set", sa.String(32), nullable=False),
        sa.Column("from_method", sa.String(64), nullable=True),
        sa.Column("gwp_ug", sa.BigInteger, nullable=False),
        sa.Column("gwp_g_min", sa.Float, nullable=False),
        sa.Column("gwp_g_max", sa.Float, nullable=False),
        sa.Column("gwp_market_ug", sa.BigInteger, nullable=True),
        sa.Column("energy_wh", sa.Float, nullable=False),
        sa.Column("energy_wh_min", sa.Float, nullable=False),
        sa.Column("energy_wh_max", sa.Float, nullable=False),
        sa.Column("water_ml", sa.Float, nullable=False),
        sa.Column("adpe_kgsbeq", sa.Float, nullable=False),
        sa.Column("pe_mj", sa.Float, nullable=False),
        sa.Column("impacts_detail", sa.JSON, nullable=True),
    )


    with op.batch_alter_table("measurement_windows") as batch:
        batch.add_column(sa.Column("energy_source", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("measurement_windows") as batch:
        batch.drop_column("energy_source")
    op.drop_table("impact_restatements")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("impact_warnings")
        batch.drop_column("impact_inputs")
        batch.drop_column("catalogue_version")
