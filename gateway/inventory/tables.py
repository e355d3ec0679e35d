"""Inventory tables: the current record of each use case and every version of it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.ledger.tables import Base


class InventoryUseCase(Base):
    """The current version of a use case; the searchable fields are columns, the rest JSON."""

    __tablename__ = "inventory_use_cases"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(256))
    department: Mapped[str] = mapped_column(String(64), index=True)
    owner: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32), index=True)
    risk_class: Mapped[str] = mapped_column(String(16), index=True)
    next_review: Mapped[date | None] = mapped_column(Date, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(128))
    document: Mapped[dict] = mapped_column(JSON)


class InventoryUseCaseVersion(Base):
    """One change of a use case: the whole record after it, who made it, when and why."""

    __tablename__ = "inventory_use_case_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    use_case_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    change: Mapped[str] = mapped_column(String(32))
    document: Mapped[dict] = mapped_column(JSON)

    __table_args__ = (UniqueConstraint("use_case_id", "version", name="uq_inventory_version"),)
