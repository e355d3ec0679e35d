"""The one SQLAlchemy declarative base of every Sobria table (Alembic reads its metadata)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Shared metadata for every Sobria table."""
