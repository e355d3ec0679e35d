"""Measured mode (codecarbon): self-hosted model energy, and the gateway's own footprint.

A `WindowMeter` runs codecarbon's `OfflineEmissionsTracker` (no network: the country is
given, RAPL/NVML where present, codecarbon's documented CPU/RAM fallbacks otherwise)
over a measurement window, records the requests served in it, and on close shares the
measured energy among them by token share. The same meter, in process mode, measures
the gateway itself. Nothing is written to disk and codecarbon's logging is kept quiet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from estimators.factors import factor_set_version
from estimators.impacts import Criteria, Impacts, Range
from estimators.mixes import zone_mix

METHOD_ID = "codecarbon-3.3.2-window-token-share-1"
SOURCE = "measured"
TDP_ESTIMATE = "estimated (TDP)"


def energy_source(hardware: list[Any]) -> str:
    """What produced a window's energy: "RAPL", "NVML", both, or "estimated (TDP)".

    Reads codecarbon's detected hardware: a GPU is read through NVML; a CPU in
    `intel_rapl` mode through RAPL; any other CPU mode (constant TDP, CPU load x TDP)
    is an estimate, labelled as such. RAM power is always codecarbon's estimate."""
    sources = []
    if any(getattr(h, "_mode", None) == "intel_rapl" for h in hardware):
        sources.append("RAPL")
    if any(type(h).__name__ == "GPU" for h in hardware):
        sources.append("NVML")
    return "+".join(sources) if sources else TDP_ESTIMATE


def attribute_by_tokens(energy_wh: float, tokens: Mapping[str, int]) -> dict[str, float]:
    """Share a window's energy among its requests in proportion to their tokens.

    Shares sum to `energy_wh`; a window whose requests have no tokens shares equally.
    """
    if not tokens:
        return {}
    total = sum(tokens.values())
    if total <= 0:
        return {rid: energy_wh / len(tokens) for rid in tokens}
    return {rid: energy_wh * n / total for rid, n in tokens.items()}


def measured_impacts(
    energy_wh: float, zone: str, estimate: Impacts | None = None, energy_source: str = TDP_ESTIMATE
) -> Impacts:
    """Usage impacts of a window's energy at the zone's mix; embodied from the estimate, if any.

    `energy_source` says what produced the energy; a TDP estimate gives the source
    "estimated (TDP)", never "measured". The estimate stays under `extra["model_based"]`.
    """
    mix = zone_mix(zone)
    kwh = energy_wh / 1000
    usage = Criteria(
        energy_wh=Range.exact(energy_wh),
        gwp_g=Range.exact(kwh * mix.gwp_kg_per_kwh * 1000),
        water_ml=Range.exact(kwh * mix.wue_l_per_kwh * 1000),
        adpe_kgsbeq=Range.exact(kwh * mix.adpe_kgsbeq_per_kwh),
        pe_mj=Range.exact(kwh * mix.pe_mj_per_kwh),
    )
    extra: dict[str, Any] = {"energy_source": energy_source}
    if estimate is not None:
        extra["model_based"] = {"source": estimate.source, "total": estimate.total.as_dict()}
    return Impacts(
        usage=usage,
        embodied=estimate.embodied if estimate is not None else Criteria(),
        method_id=METHOD_ID,
        factor_set_version=factor_set_version(),
        source=SOURCE if energy_source != TDP_ESTIMATE else TDP_ESTIMATE,
        zone=mix.zone,
        warnings=mix.warnings + (() if estimate is not None else ("no embodied share: measurement only",)),
        extra=extra,
    )


def _offline_tracker(country_iso_code: str, tracking_mode: str, output_dir: str) -> Any:
    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    return OfflineEmissionsTracker(
        country_iso_code=country_iso_code,
        tracking_mode=tracking_mode,
        save_to_file=False,
        output_dir=output_dir,
        log_level="error",
        measure_power_secs=1,
        allow_multiple_runs=True,
    )


@dataclass(frozen=True, slots=True)
class WindowResult:
    """A closed window: measured energy (Wh) and each request's share of it."""

    energy_wh: float
    shares_wh: dict[str, float]
    energy_source: str = TDP_ESTIMATE

    @property
    def measured(self) -> bool:
        """True only when a meter (RAPL or NVML) read the energy; a TDP estimate is not a measurement."""
        return self.energy_source != TDP_ESTIMATE


class WindowMeter:
    """One measurement window: start, record requests (thread-safe), close."""

    def __init__(
        self,
        country_iso_code: str = "FRA",
        tracking_mode: str = "machine",
        output_dir: str = "/tmp",
        tracker_factory: Callable[[str, str, str], Any] = _offline_tracker,
    ):
        self._tracker = tracker_factory(country_iso_code, tracking_mode, output_dir)
        self._tokens: dict[str, int] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self._tracker.start()

    def record(self, request_id: str, tokens: int) -> None:
        with self._lock:
            self._tokens[request_id] = self._tokens.get(request_id, 0) + tokens

    def close(self) -> WindowResult:
        """Stop measuring and share the window's energy by token share."""
        self._tracker.stop()
        energy_wh = float(self._tracker.final_emissions_data.energy_consumed) * 1000
        with self._lock:
            tokens = dict(self._tokens)
        source = energy_source(list(getattr(self._tracker, "_hardware", []) or []))
        return WindowResult(energy_wh, attribute_by_tokens(energy_wh, tokens), source)


class GatewayFootprint:
    """The gateway's own process energy per request (codecarbon, process mode).

    Reported separately from model impacts: the tool that counts carbon counts itself.
    """

    def __init__(self, country_iso_code: str = "FRA", output_dir: str = "/tmp", **kwargs: Any):
        self._meter = WindowMeter(country_iso_code, "process", output_dir, **kwargs)
        self._requests = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        self._meter.start()

    def count(self) -> None:
        with self._lock:
            self._requests += 1

    def close(self) -> dict[str, Any]:
        """Energy of the gateway process over the window, in total and per request (Wh)."""
        result = self._meter.close()
        per_request = result.energy_wh / self._requests if self._requests else 0.0
        return {
            "energy_wh": result.energy_wh,
            "requests": self._requests,
            "energy_wh_per_request": per_request,
            "energy_source": result.energy_source,
        }
