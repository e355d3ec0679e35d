"""Table of per-scope budget overrides set through the admin API.

One row replaces the configured budget of one scope entirely: a NULL limit means no
budget in that currency for that scope. Limits are integer micro-units like the ledger.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.ledger.tables import Base


class BudgetOverride(Base):
    """The budget of one scope ("employee:<pseudonym>", "department:<name>",
    "use_case:<id>" or "org"), as set by an admin."""

    __tablename__ = "budget_overrides"

    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    limit_micro_eur: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    limit_gco2e_ug: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    window: Mapped[str] = mapped_column(String(32), default="rolling")
    window_days: Mapped[int] = mapped_column(Integer, default=30)
    bucket_minutes: Mapped[int] = mapped_column(Integer, default=60)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(128))
