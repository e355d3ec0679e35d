"""Measured mode, wired in: codecarbon windows for the gateway itself and local models.

`Footprint` rolls a measurement window every `window_s`: the gateway process is measured
in codecarbon's process mode (energy per request: the tool that counts carbon counts
itself), and each measured self-hosted model in machine mode, its energy shared among the
window's requests by token share. Closed windows and shares are written to the tables of
`gateway.observability.footprint_tables`; the estimates in `usage_records` are never touched.
codecarbon blocks, so every start and stop runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from estimators.measured import (
    METHOD_ID,
    GatewayFootprint,
    WindowMeter,
    measured_impacts,
)
from gateway.providers.catalogue import ModelSpec
from gateway.observability.footprint_tables import GATEWAY_SUBJECT, MeasuredShare, MeasurementWindow
from gateway.ledger.db import sessionmaker

log = logging.getLogger("sobria.footprint")

GATEWAY_MODE = "process"
MODEL_MODE = "machine"
DESCRIPTION = (
    "Measured mode (codecarbon OfflineEmissionsTracker: RAPL/NVML where present, its CPU-load x "
    "TDP and RAM fallbacks otherwise). Every measurement window, the gateway process is measured "
    "in process mode and reported as energy per request, separately from model impacts; each "
    "self-hosted model declared `measured` and served from this host is measured in machine mode "
    "and the window's energy is shared among its requests by token share. GWP is location-based "
    "at the zone's mix; each request's model-based estimate stays in the ledger beside its share."
)


def _codecarbon_country(zone: str) -> str:
    """codecarbon wants a country; only its energy is used, so the world zone borrows one."""
    return "FRA" if zone == "WOR" else zone


def _on_this_host(spec: ModelSpec) -> bool:
    host = urlparse(str(spec.litellm_params.get("api_base", ""))).hostname or ""
    return host in {"localhost", "::1", socket.gethostname()} or host.startswith("127.")


def measured_models(specs: Iterable[ModelSpec]) -> dict[str, str]:
    """Models to measure (name -> zone): declared `measured` and served from this host."""
    chosen: dict[str, str] = {}
    for spec in specs:
        if not spec.impact.measured:
            continue
        if spec.mode == "local" and _on_this_host(spec):
            chosen[spec.name] = spec.impact.zone
        else:
            log.warning("model %s declares measured mode but is not served from this host; estimated only", spec.name)
    return chosen


@dataclass(slots=True)
class _Window:
    """The window being measured: its meters and what was served in it."""

    started_at: datetime
    gateway: GatewayFootprint
    models: dict[str, WindowMeter]
    tokens: dict[str, int] = field(default_factory=dict)
    gateway_tokens: int = 0


class Footprint:
    """Rolls measurement windows in the background and persists each closed one."""

    def __init__(
        self,
        engine: AsyncEngine,
        models: dict[str, str],
        window_s: float,
        zone: str = "FRA",
        output_dir: str = "/tmp",
    ):
        self._sessions = sessionmaker(engine)
        self.models = dict(models)
        self.window_s = window_s
        self.zone = zone
        self._output_dir = output_dir
        self._window: _Window | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def observe(self, model: str, request_id: str, tokens: int) -> None:
        """Count one settled request (cheap, synchronous; called on the request path)."""
        window = self._window
        if window is None:
            return
        window.gateway.count()
        window.gateway_tokens += tokens
        meter = window.models.get(model)
        if meter is not None:
            meter.record(request_id, tokens)
            window.tokens[model] = window.tokens.get(model, 0) + tokens

    async def start(self) -> None:
        """Open the first window and start rolling."""
        self._window = await asyncio.to_thread(self._open)
        self._task = asyncio.create_task(self._run(), name="sobria-footprint")

    async def stop(self) -> None:
        """Stop rolling (a roll under way completes); the current window is closed and persisted."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        window, self._window = self._window, None
        if window is not None:
            await self._close(window)

    async def roll(self) -> None:
        """Open the next window, then close and persist the one it replaces."""
        following = await asyncio.to_thread(self._open)
        window, self._window = self._window, following
        if window is not None:
            await self._close(window)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._stopping.wait(), self.window_s)
                return
            except TimeoutError:
                pass
            try:
                await self.roll()
            except Exception:
                log.warning("measurement window lost; measuring the next one", exc_info=True)

    def _open(self) -> _Window:
        gateway = GatewayFootprint(_codecarbon_country(self.zone), self._output_dir)
        models = {
            name: WindowMeter(_codecarbon_country(zone), MODEL_MODE, self._output_dir)
            for name, zone in self.models.items()
        }
        gateway.start()
        for meter in models.values():
            meter.start()
        return _Window(datetime.now(UTC), gateway, models)

    async def _close(self, window: _Window) -> None:
        gateway, results = await asyncio.to_thread(
            lambda: (window.gateway.close(), {name: meter.close() for name, meter in window.models.items()})
        )
        ended_at = datetime.now(UTC)

        def row(subject: str, zone: str, energy_wh: float, requests: int, tokens: int, mode: str, source: str) -> MeasurementWindow:
            return MeasurementWindow(
                started_at=window.started_at, ended_at=ended_at, subject=subject, zone=zone, energy_wh=energy_wh,
                gwp_g=measured_impacts(energy_wh, zone).usage.gwp_g.value, requests=requests, tokens=tokens,
                tracking_mode=mode, method_id=METHOD_ID, energy_source=source,
            )

        async with self._sessions() as session, session.begin():
            session.add(row(GATEWAY_SUBJECT, self.zone, gateway["energy_wh"], int(gateway["requests"]),
                            window.gateway_tokens, GATEWAY_MODE, str(gateway["energy_source"])))
            for name, result in results.items():
                zone = self.models[name]
                model_row = row(name, zone, result.energy_wh, len(result.shares_wh), window.tokens.get(name, 0), MODEL_MODE,
                                result.energy_source)
                session.add(model_row)
                await session.flush()
                session.add_all(
                    MeasuredShare(request_id=rid, window_id=model_row.id, energy_wh=share,
                                  gwp_g=measured_impacts(share, zone).usage.gwp_g.value)
                    for rid, share in result.shares_wh.items()
                )

    def describe(self) -> dict[str, Any]:
        """What is measured and how, for the published methodology."""
        return {
            "description": DESCRIPTION,
            "method_id": METHOD_ID,
            "window_s": self.window_s,
            "gateway": {"zone": self.zone, "tracking_mode": GATEWAY_MODE},
            "models": {name: {"zone": zone, "tracking_mode": MODEL_MODE} for name, zone in sorted(self.models.items())},
        }


def _utc(moment: datetime) -> str:
    """ISO time in UTC (SQLite hands timestamps back without their zone)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


async def gateway_report(engine: AsyncEngine, limit: int = 12) -> dict[str, Any]:
    """The gateway's own measured footprint: its last windows and the totals over all windows."""
    async with sessionmaker(engine)() as session:
        rows = (
            await session.scalars(
                select(MeasurementWindow)
                .where(MeasurementWindow.subject == GATEWAY_SUBJECT)
                .order_by(MeasurementWindow.id.desc())
                .limit(limit)
            )
        ).all()
        count, energy_wh, gwp_g, requests = (
            await session.execute(
                select(
                    func.count(MeasurementWindow.id),
                    func.coalesce(func.sum(MeasurementWindow.energy_wh), 0.0),
                    func.coalesce(func.sum(MeasurementWindow.gwp_g), 0.0),
                    func.coalesce(func.sum(MeasurementWindow.requests), 0),
                ).where(MeasurementWindow.subject == GATEWAY_SUBJECT)
            )
        ).one()
    return {
        "windows": [
            {
                "started_at": _utc(r.started_at),
                "ended_at": _utc(r.ended_at),
                "energy_wh": r.energy_wh,
                "gwp_g": r.gwp_g,
                "requests": r.requests,
                "energy_wh_per_request": r.energy_wh / r.requests if r.requests else None,
                "zone": r.zone,
                "tracking_mode": r.tracking_mode,
                "method_id": r.method_id,
                "energy_source": r.energy_source,
            }
            for r in rows
        ],
        "totals": {
            "windows": int(count),
            "energy_wh": float(energy_wh),
            "gwp_g": float(gwp_g),
            "requests": int(requests),
            "energy_wh_per_request": float(energy_wh) / int(requests) if requests else None,
        },
    }
