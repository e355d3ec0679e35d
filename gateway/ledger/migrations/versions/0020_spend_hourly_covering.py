"""The hourly spending roll-up's primary key carries the two figures a rebuild reads.

A budget rebuild after a Redis loss reads, per scope, every hour of its window from
`usage_spend_hourly`. With the figures in the primary key's index (PostgreSQL
`INCLUDE`), that read is an index-only scan over a few contiguous index pages per scope,
instead of one heap page per hour row, scattered over a table of millions of rows: what
a burst after `FLUSHALL` waits for when the page cache is cold. SQLite is left as it is
(it has no `INCLUDE`; its embedded ledgers are small).

Revision ID: 0020_spend_hourly_covering
Revises: 0015_ledger_scale
Create Date: 2026-12-03
"""

from alembic import op

revision = "0020_spend_hourly_covering"
down_revision = "0015_ledger_scale"  # the table it changes is created there
branch_labels = None
depends_on = None


def _primary_key(include: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE usage_spend_hourly DROP CONSTRAINT usage_spend_hourly_pkey, "
        f"ADD CONSTRAINT usage_spend_hourly_pkey PRIMARY KEY (scope, hour_s) {include}"
    )


def upgrade() -> None:
    _primary_key("INCLUDE (cost_micro_eur, gwp_ug)")


def downgrade() -> None:
    _primary_key("")
