"""Tables of measured mode (migration 0006): closed codecarbon windows and request shares.

A window row measures one subject over one window: the gateway process ("gateway") or a
measured self-hosted model (its catalogue name). A model window's energy is shared among
its requests; each share is a row beside, never in place of, the request's estimate in
`usage_records` (join on `request_id`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.ledger.tables import Base

GATEWAY_SUBJECT = "gateway"


class MeasurementWindow(Base):
    """One subject's measured energy over one window (location-based GWP at its zone)."""

    __tablename__ = "measurement_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    subject: Mapped[str] = mapped_column(String(128), index=True)
    zone: Mapped[str] = mapped_column(String(8))
    energy_wh: Mapped[float] = mapped_column(Float)
    gwp_g: Mapped[float] = mapped_column(Float)
    requests: Mapped[int] = mapped_column(Integer)
    tokens: Mapped[int] = mapped_column(Integer)
    tracking_mode: Mapped[str] = mapped_column(String(16))
    method_id: Mapped[str] = mapped_column(String(64))
    energy_source: Mapped[str | None] = mapped_column(String(32), nullable=True)  # RAPL, NVML or "estimated (TDP)"


class MeasuredShare(Base):
    """One request's share of its model window's measured energy (by token share)."""

    __tablename__ = "measured_shares"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("measurement_windows.id"), index=True)
    energy_wh: Mapped[float] = mapped_column(Float)
    gwp_g: Mapped[float] = mapped_column(Float)
