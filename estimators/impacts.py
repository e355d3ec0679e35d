"""The impact record every estimator returns, and the model profile it reads.

Plain frozen dataclasses: an estimator is a pure function from (profile, tokens,
latency) to an `Impacts`, so it can be tested and replayed without the gateway.
Units are in the field names: Wh, g CO2e, mL, kg Sb eq, MJ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Range:
    """A point estimate with its uncertainty interval; always min <= value <= max."""

    value: float
    min: float
    max: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.value) and math.isfinite(self.min) and math.isfinite(self.max)):
            raise ValueError(f"impact range must be finite, got {self.min}/{self.value}/{self.max}")
        slack = 1e-12 * max(abs(self.max), abs(self.min), 1e-300)
        if not (self.min - slack <= self.value <= self.max + slack):
            raise ValueError(f"impact range must be ordered min <= value <= max, got {self.min}/{self.value}/{self.max}")

    @classmethod
    def exact(cls, value: float) -> Range:
        return cls(value, value, value)

    @classmethod
    def between(cls, low: float, high: float) -> Range:
        """The interval [low, high] with its midpoint as the point estimate."""
        low, high = min(low, high), max(low, high)
        return cls((low + high) / 2, low, high)

    def __add__(self, other: Range) -> Range:
        return Range(self.value + other.value, self.min + other.min, self.max + other.max)

    def scale(self, factor: float) -> Range:
        return Range(self.value * factor, self.min * factor, self.max * factor)

    @property
    def width(self) -> float:
        """max / min, the range's width as a ratio (inf when min is 0 and max is not)."""
        if self.max == 0:
            return 1.0
        return self.max / self.min if self.min > 0 else math.inf

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "min": self.min, "max": self.max}


ZERO = Range(0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Criteria:
    """One lifecycle phase's impacts on every criterion."""

    energy_wh: Range = ZERO
    gwp_g: Range = ZERO
    water_ml: Range = ZERO
    adpe_kgsbeq: Range = ZERO
    pe_mj: Range = ZERO

    def __add__(self, other: Criteria) -> Criteria:
        return Criteria(
            self.energy_wh + other.energy_wh,
            self.gwp_g + other.gwp_g,
            self.water_ml + other.water_ml,
            self.adpe_kgsbeq + other.adpe_kgsbeq,
            self.pe_mj + other.pe_mj,
        )

    def scale(self, factor: float) -> Criteria:
        return Criteria(
            self.energy_wh.scale(factor),
            self.gwp_g.scale(factor),
            self.water_ml.scale(factor),
            self.adpe_kgsbeq.scale(factor),
            self.pe_mj.scale(factor),
        )

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            "energy_wh": self.energy_wh.as_dict(),
            "gwp_g": self.gwp_g.as_dict(),
            "water_ml": self.water_ml.as_dict(),
            "adpe_kgsbeq": self.adpe_kgsbeq.as_dict(),
            "pe_mj": self.pe_mj.as_dict(),
        }


def reserved_gwp_ug(bound_g: float, max_g: float) -> int:
    """The CO2e a budget reserves, in micro-grams rounded up: the bound, never below the displayed max."""
    return math.ceil(max(bound_g, max_g) * 1_000_000)


@dataclass(frozen=True, slots=True)
class ReservationBound:
    """What a budget holds for one deployment before a call: the CO2e bound (µg, rounded
    up, as `Impacts.reservation_bound_gwp_ug`) and the most energy the estimate allows (Wh)."""

    gwp_ug: int
    energy_wh: float


@dataclass(frozen=True, slots=True)
class Impacts:
    """Impacts of one request: usage and embodied phases, their total, and provenance."""

    usage: Criteria
    embodied: Criteria
    method_id: str
    factor_set_version: str
    source: str = "model-based"
    zone: str = "WOR"
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    reservation_gwp_g: float | None = None

    @property
    def total(self) -> Criteria:
        return self.usage + self.embodied

    @property
    def energy_wh(self) -> Range:
        return self.total.energy_wh

    @property
    def gwp_g(self) -> Range:
        return self.total.gwp_g

    @property
    def water_ml(self) -> Range:
        return self.total.water_ml

    @property
    def warning_codes(self) -> tuple[str, ...]:
        """The codes of the warnings (the part before ': '), for the ledger and the caller."""
        return tuple(dict.fromkeys(w.split(":", 1)[0].strip() for w in self.warnings))

    @property
    def gwp_market_g(self) -> Range | None:
        """Market-based GWP, or None ("not available") when no contractual factor is declared."""
        market = self.extra.get("gwp_market_g")
        return Range(market["value"], market["min"], market["max"]) if isinstance(market, dict) else None

    @property
    def counted_tokens(self) -> tuple[int, int] | None:
        """(input, output) tokens as the estimate counted them, after clamping impossible
        provider figures (negative, NaN): what cost and counters should use too."""
        inputs = self.extra.get("inputs")
        if not isinstance(inputs, dict):
            return None
        return int(inputs["input_tokens"]), int(inputs["output_tokens"])

    def reservation_bound_gwp_ug(self) -> int:
        """The CO2e (micro-grams, rounded up) a budget reserves before the call: the
        interval-arithmetic worst case (every uncertain input at its high end at once),
        which is at least the displayed max. See METHODOLOGY.md, "Reservation bound"."""
        bound = self.reservation_gwp_g if self.reservation_gwp_g is not None else self.gwp_g.max
        return reserved_gwp_ug(bound, self.gwp_g.max)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total.as_dict(),
            "usage": self.usage.as_dict(),
            "embodied": self.embodied.as_dict(),
            "method_id": self.method_id,
            "factor_set_version": self.factor_set_version,
            "source": self.source,
            "zone": self.zone,
            "warnings": list(self.warnings),
            "reservation_gwp_g": self.reservation_gwp_g,
            **self.extra,
        }


@dataclass(frozen=True, slots=True)
class SupplierFactor:
    """Per-request lifecycle figures published by the provider itself (GHG Protocol:
    supplier-specific data first). Figures are per response of `reference_output_tokens`;
    a criterion the supplier did not publish is None. `relative_uncertainty` (e.g. 0.5
    for +/-50 %) is set by whoever declares the factor, with its reason in `note`.
    `model_version` is the one model version the figures describe: they apply to no other.
    """

    source: str
    model_version: str
    reference_output_tokens: int
    relative_uncertainty: float
    gwp_g: float | None = None
    water_ml: float | None = None
    adpe_kgsbeq: float | None = None
    energy_wh: float | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class ImpactProfile:
    """What an estimator needs to know about one deployment (from the model catalogue).

    `ecologits_provider`/`ecologits_model` name the model in EcoLogits' repository;
    when they are absent or unknown there, the parameter counts (billions) are used.
    `market_gwp_kg_per_kwh` (with `market_source`) is a contractual market-based factor
    (guarantees of origin, PPA, residual mix, a provider's published market-based figure),
    reported beside the location-based figure; without one, market-based is not available.
    `model_version` is the model id the deployment serves (supplier figures apply only to
    theirs). `quantisation_bits`, `gpu_type` and `gpu_count` (per replica) describe the
    hardware; `catalogue_version` is recorded on every row for restatement.
    `measured` declares a deployment on the gateway's own host, measured with codecarbon.
    """

    provider: str
    ecologits_provider: str | None = None
    ecologits_model: str | None = None
    total_params_b: Range | None = None
    active_params_b: Range | None = None
    zone: str = "WOR"
    pue: Range | None = None
    wue_l_per_kwh: Range | None = None
    market_gwp_kg_per_kwh: float | None = None
    market_source: str | None = None
    supplier: SupplierFactor | None = None
    measured: bool = False
    model_version: str | None = None
    quantisation_bits: int | None = None
    gpu_type: str | None = None
    gpu_count: int | None = None
    catalogue_version: str | None = None
