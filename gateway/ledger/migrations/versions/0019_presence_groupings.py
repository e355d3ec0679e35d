"""Distinct users at each committee grouping's grain: coarser presence and its counts.

`usage_presence_grouped` (month x grouping x group x pseudonym) and
`usage_presence_counts` (month x grouping x group -> distinct employees) are derived
from the cell presence already in the ledger, so an upgraded gateway counts the users
of any grouping at once; an index on (month, pseudonym) lets the committee find the
cells of the few employees behind suppressed cells.

Revision ID: 0019_presence_groupings
Revises: 0015_ledger_scale
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from gateway.ledger import presence

revision = "0019_presence_groupings"
down_revision = "0015_ledger_scale"  # the cell presence it derives from is created there
branch_labels = None
depends_on = None


def _group_columns() -> list[sa.Column]:
    return [
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("grouping", sa.String(40), primary_key=True),
        sa.Column("use_case", sa.String(64), primary_key=True),
        sa.Column("department", sa.String(64), primary_key=True),
        sa.Column("served_model", sa.String(128), primary_key=True),
    ]


def upgrade() -> None:
    op.create_table("usage_presence_grouped", *_group_columns(),
                    sa.Column("employee_pseudonym", sa.String(64), primary_key=True))
    op.create_table("usage_presence_counts", *_group_columns(), sa.Column("users", sa.BigInteger, nullable=False))
    op.create_index("ix_presence_month_employee", "usage_presence_monthly", ["month", "employee_pseudonym"])
    bind = op.get_bind()
    for statement in (*presence.grouped_from_cells(bind.dialect.name), *presence.recount_statements()):
        bind.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_presence_month_employee", table_name="usage_presence_monthly")
    op.drop_table("usage_presence_counts")
    op.drop_table("usage_presence_grouped")
