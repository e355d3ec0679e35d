"""Database tables of the ledger, keys and audit log (SQLAlchemy 2 declarative).

Money is stored as integer micro-euros and carbon as integer micro-grams so sums are
exact; the other criteria are floats with their unit in the column name. No prompt or
completion text is ever stored here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Shared metadata for every Sobria table (Alembic reads it)."""


class UsageRecord(Base):
    """One request through the gateway, whatever its outcome."""

    __tablename__ = "usage_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    employee_pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    department: Mapped[str] = mapped_column(String(64))
    roles: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32))
    use_case: Mapped[str] = mapped_column(String(64))
    requested_model: Mapped[str] = mapped_column(String(128))
    served_model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    rule_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    policy_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    classifier_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    classifier_runner_up: Mapped[str | None] = mapped_column(String(64), nullable=True)
    classifier_runner_up_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    classifier_low_confidence: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    status: Mapped[str] = mapped_column(String(48))
    http_status: Mapped[int] = mapped_column(Integer)
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    max_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    ttft_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    cost_micro_eur: Mapped[int] = mapped_column(BigInteger, default=0)
    gwp_ug: Mapped[int] = mapped_column(BigInteger, default=0)
    gwp_g_min: Mapped[float] = mapped_column(Float, default=0.0)
    gwp_g_max: Mapped[float] = mapped_column(Float, default=0.0)
    gwp_market_ug: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    energy_wh: Mapped[float] = mapped_column(Float, default=0.0)
    energy_wh_min: Mapped[float] = mapped_column(Float, default=0.0)
    energy_wh_max: Mapped[float] = mapped_column(Float, default=0.0)
    water_ml: Mapped[float] = mapped_column(Float, default=0.0)
    adpe_kgsbeq: Mapped[float] = mapped_column(Float, default=0.0)
    pe_mj: Mapped[float] = mapped_column(Float, default=0.0)
    impact_method: Mapped[str | None] = mapped_column(String(64), nullable=True)
    factor_set_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    impact_source: Mapped[str | None] = mapped_column(String(32), nullable=True)
    impacts_detail: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error_message: Mapped[str | None] = mapped_column(String(500), nullable=True)

    __table_args__ = (Index("ix_usage_use_case_started", "use_case", "started_at"),)


class ApiKey(Base):
    """An API key: only its SHA-256 is kept; the key itself is shown once at creation."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    employee_id: Mapped[str] = mapped_column(String(128))
    department: Mapped[str] = mapped_column(String(64))
    roles: Mapped[str] = mapped_column(String(64))
    trusted_frontend: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditEntry(Base):
    """Append-only record of an admin or committee action, hash-chained to the previous one."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(256))
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
