"""Policy history: every policy version that was loaded, when, from where and by whom."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from contracts.tables import Base


class PolicyVersion(Base):
    """One loaded policy; `text` is the exact YAML whose SHA-256 prefix is `version`."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), index=True)
    version_label: Mapped[str] = mapped_column(String(128), default="")
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    source: Mapped[str] = mapped_column(String(256))
    actor: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)


class PolicyHead(Base):
    """The published policy every replica serves (one row): its version, and the last policy file published."""

    __tablename__ = "policy_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    file_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str] = mapped_column(String(128))
