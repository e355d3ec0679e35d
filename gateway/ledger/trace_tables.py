"""Tables of the opt-in content log and of the refused-access trace (migration 0005)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.ledger.tables import Base


class ContentRecord(Base):
    """Prompt and completion text of one request, kept only while content logging is on."""

    __tablename__ = "content_log"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    employee_pseudonym: Mapped[str] = mapped_column(String(64))
    prompt: Mapped[str] = mapped_column(Text)
    completion: Mapped[str] = mapped_column(Text)


class AccessRefusal(Base):
    """One refused request: no key, an unknown or revoked key, or a missing role.

    `key_hash` is the SHA-256 of the presented key, so a refusal of a revoked key joins
    to its `api_keys` row without the key itself ever being stored."""

    __tablename__ = "access_refusals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(256))
    key_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)  # migration 0018
