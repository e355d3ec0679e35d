"""Model-based impacts of a model request: EcoLogits' model with a stated uncertainty model.

The physics is EcoLogits' (`ecologits` pinned at 0.11.3): its model repository, its
provider data-centre table, its electricity mixes and its impact functions (its DAG).
Sobria adds the prompt (prefill ratio) and an uncertainty model (METHODOLOGY.md,
"Uncertainty model"): every uncertain input has a central value and a low and high
end from the factor set; the central figure evaluates EcoLogits' DAG at the central
values; each input moved alone to either end gives a ratio to the central figure; the
ratios combine by root-sum-square of their logarithms (IPCC 2006 Guidelines, Vol. 1
ch. 3, Approach 1, in log space so that asymmetric ranges stay asymmetric). Budgets
reserve on the interval-arithmetic corner instead (every input at its high end).

For a fixed deployment and scenario, EcoLogits' figures are affine in the tokens
decoded and the seconds of generation; each scenario is probed three times once per
profile and each request then costs a few multiplications.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from ecologits import __version__ as ECOLOGITS_VERSION
from ecologits.impacts import llm as ecologits_llm
from ecologits.impacts.llm import compute_llm_impacts_dag
from ecologits.model_repository import ParametersMoE, models
from ecologits.tracers.utils import PROVIDER_CONFIG_MAP
from ecologits.utils.range_value import RangeValue

from estimators.factors import CURRENT_VERSION, load_factor_set
from estimators.impacts import Criteria, ImpactProfile, Impacts, Range, ReservationBound, reserved_gwp_ug
from estimators.mixes import ZoneMix, zone_mix
from estimators.prefill import PrefillRatio, equivalent_tokens, prefill_ratio
from estimators.supplier import supplier_factor_for, supplier_impacts

METHOD_ID = f"ecologits-{ECOLOGITS_VERSION}+sobria-uncertainty-2"
FACTOR_SET_VERSION = CURRENT_VERSION
SOURCE = "model-based"
COMBINATION_RULE = "root-sum-square of log ratios (IPCC 2006 Vol. 1 ch. 3 Approach 1, in log space)"
RESERVATION_RULE = "interval arithmetic: every uncertain input at its high end at once"

# EcoLogits DAG outputs we keep: (name, unit multiplier to Sobria's units).
_FIELDS = {
    "request_energy": 1000.0,  # kWh -> Wh
    "request_it_energy": 1000.0,  # kWh -> Wh (IT equipment only, before PUE)
    "request_usage_gwp": 1000.0,  # kg -> g
    "request_usage_adpe": 1.0,  # kg Sb eq
    "request_usage_pe": 1.0,  # MJ
    "request_usage_wcf": 1000.0,  # L -> mL
    "request_embodied_gwp": 1000.0,
    "request_embodied_adpe": 1.0,
    "request_embodied_pe": 1.0,
}
_ONSITE = "request_onsite_wcf"  # derived: IT energy x data-centre WUE (mL), on-site water only
_KEYS = (*_FIELDS, _ONSITE)
# EcoLogits' DAG defaults (hardware constants), used when a GPU count is declared.
_DAG_DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(compute_llm_impacts_dag).parameters.items()
    if p.default is not inspect.Parameter.empty
}
# The uncertain inputs of the DAG, in the order METHODOLOGY.md lists them (prefill comes last).
DAG_FACTORS = ("parameters", "quantisation", "utilisation", "pue", "wue", "grid")
MAX_TOKENS = 100_000_000  # more tokens than any context window: a provider's or client's error


@dataclass(frozen=True, slots=True)
class Triple:
    """An uncertain input: the value giving the lower figures, the central one, the higher one."""

    low: float
    central: float
    high: float

    @classmethod
    def span(cls, low: float, high: float, central: float | None = None) -> Triple:
        return cls(low, (low + high) / 2 if central is None else central, high)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One set of DAG inputs."""

    active_b: float
    total_b: float
    batch: float
    pue: float
    wue: float
    grid: float
    bits: float


@dataclass(frozen=True, slots=True)
class _Affine:
    """EcoLogits for one scenario: field = per_token * N + per_second * generation seconds."""

    per_token: dict[str, float]
    per_second: dict[str, float]
    seconds_per_token: float
    first_token_s: float

    def at(self, tokens: float, latency_s: float) -> dict[str, float]:
        generation_s = min(latency_s, tokens * self.seconds_per_token + self.first_token_s)
        return {k: self.per_token[k] * tokens + self.per_second[k] * generation_s for k in _KEYS}


@dataclass(frozen=True, slots=True)
class Deployment:
    """Everything resolved once per profile and factor set: the uncertain inputs and the hardware."""

    active_params_b: Triple
    total_params_b: Triple
    batch_size: Triple
    pue: Triple
    wue_l_per_kwh: Triple
    grid: Triple
    quantisation_bits: Triple
    ecologits_pue: tuple[float, float]
    ecologits_wue: tuple[float, float]
    mix: ZoneMix
    gpu_memory_gb: float
    gpu_count: int | None
    tps: float | None
    ttft_s: float | None
    warnings: tuple[str, ...]
    parameters_source: str
    factor_set_version: str

    def scenario(self, factor: str | None = None, end: str = "central") -> Scenario:
        """Central inputs, with `factor` moved to its `end` ("low" or "high")."""

        def pick(name: str, t: Triple) -> float:
            return getattr(t, end) if name == factor else t.central

        return Scenario(
            active_b=pick("parameters", self.active_params_b),
            total_b=pick("parameters", self.total_params_b),
            batch=pick("utilisation", self.batch_size),
            pue=pick("pue", self.pue),
            wue=pick("wue", self.wue_l_per_kwh),
            grid=pick("grid", self.grid),
            bits=pick("quantisation", self.quantisation_bits),
        )

    def as_inputs(self) -> dict[str, Any]:
        """The resolved inputs, recorded on each row (what a restatement needs besides the profile)."""
        def t(x: Triple) -> dict[str, float]:
            return {"low": x.low, "central": x.central, "high": x.high}

        return {
            "active_params_b": t(self.active_params_b),
            "total_params_b": t(self.total_params_b),
            "batch_size": t(self.batch_size),
            "pue": t(self.pue),
            "wue_l_per_kwh": t(self.wue_l_per_kwh),
            "grid_factor": t(self.grid),
            "quantisation_bits": t(self.quantisation_bits),
            "mix": self.mix.as_dict(),
            "gpu_memory_gb": self.gpu_memory_gb,
            "gpu_count": self.gpu_count,
            "parameters_source": self.parameters_source,
        }


def _bounds(value: Any) -> tuple[float, float]:
    if isinstance(value, RangeValue):
        return float(value.min), float(value.max)
    if isinstance(value, Range):
        return value.min, value.max
    return float(value), float(value)


def _ecologits_model(profile: ImpactProfile) -> Any:
    if not (profile.ecologits_provider and profile.ecologits_model):
        return None
    return models.find_model(provider=profile.ecologits_provider, model_name=profile.ecologits_model)


def _parameters(
    profile: ImpactProfile, model: Any, factors: dict[str, Any]
) -> tuple[Triple, Triple, tuple[str, ...], str]:
    """(active, total) parameter counts in billions, warnings, and where they came from."""
    if profile.active_params_b is not None or profile.total_params_b is not None:
        declared_active = profile.active_params_b or profile.total_params_b
        declared_total = profile.total_params_b or profile.active_params_b
        return Triple.span(*_bounds(declared_active)), Triple.span(*_bounds(declared_total)), (), "catalogue"
    if model is None:
        unknown = factors["unknown_model"]
        warning = (
            f"model-unknown: {profile.ecologits_provider}/{profile.ecologits_model} is not in EcoLogits "
            "and the catalogue declares no parameter count; a wide default range is used"
        )
        active = Triple.span(float(unknown["active_params_b"]["min"]), float(unknown["active_params_b"]["max"]))
        total = Triple.span(float(unknown["total_params_b"]["min"]), float(unknown["total_params_b"]["max"]))
        return active, total, (warning,), "unknown-model default"
    params = model.architecture.parameters
    if isinstance(params, ParametersMoE):
        active_b, total_b = _bounds(params.active), _bounds(params.total)
    else:
        active_b = total_b = _bounds(params)
    return Triple.span(*active_b), Triple.span(*total_b), tuple(w.code for w in model.warnings), "ecologits"


def _banded(bounds: tuple[float, float], band: dict[str, Any], floor: float = 0.0) -> Triple:
    """A declared range as is; a point value widened by the factor set's multiplicative band."""
    low, high = bounds
    if low < high:
        return Triple.span(low, high)
    return Triple(max(low * float(band["low"]), floor), low, low * float(band["high"]))


def _datacenter(profile: ImpactProfile, factors: dict[str, Any]) -> tuple[Triple, Triple, tuple[float, float], tuple[float, float], tuple[str, ...]]:
    """PUE and WUE: catalogue first, then EcoLogits' provider table, then the factor set's default."""
    config = PROVIDER_CONFIG_MAP.get(profile.ecologits_provider or "")
    dc = factors["datacenter"]
    unknown = dc["unknown"]
    warnings: tuple[str, ...] = ()
    eco_pue = _bounds(config.datacenter_pue) if config is not None else None
    eco_wue = _bounds(config.datacenter_wue) if config is not None else None
    if profile.pue is not None:
        pue = _banded(_bounds(profile.pue), dc["pue_band"], floor=1.0)
    elif eco_pue is not None:
        pue = _banded(eco_pue, dc["pue_band"], floor=1.0)
    else:
        u = unknown["pue"]
        pue = Triple(float(u["min"]), float(u["central"]), float(u["max"]))
        warnings += ("datacenter-pue-unknown: default PUE range used",)
    if profile.wue_l_per_kwh is not None:
        wue = _banded(_bounds(profile.wue_l_per_kwh), dc["wue_band"])
    elif eco_wue is not None:
        wue = _banded(eco_wue, dc["wue_band"])
    else:
        u = unknown["wue_l_per_kwh"]
        wue = Triple(float(u["min"]), float(u["central"]), float(u["max"]))
        warnings += ("datacenter-wue-unknown: default WUE range used",)
    return pue, wue, eco_pue or (pue.low, pue.high), eco_wue or (wue.low, wue.high), warnings


def _hardware(profile: ImpactProfile, factors: dict[str, Any]) -> tuple[Triple, float, tuple[str, ...]]:
    """(quantisation bits, GPU memory in GB, warnings): the catalogue's declaration, else the
    factor set's range around EcoLogits' 16 bits; the GPU type's memory, else EcoLogits' 80 GB."""
    if profile.quantisation_bits is not None:
        bits = Triple(*(float(profile.quantisation_bits),) * 3)
    else:
        q = factors["quantisation"]["bits"]
        bits = Triple(float(q["energy_low"]), float(q["central"]), float(q["energy_high"]))
    if profile.gpu_type is None:
        return bits, float(_DAG_DEFAULTS["gpu_memory"]), ()
    gpu = factors["gpus"][profile.gpu_type]
    warnings: tuple[str, ...] = ()
    if gpu["energy_regression"] != "ecologits":
        warnings = (f"gpu-energy-regression-proxy: {profile.gpu_type} uses EcoLogits' H100-class energy regression",)
    return bits, float(gpu["memory_gb"]), warnings


@lru_cache(maxsize=512)
def resolve(profile: ImpactProfile, version: str = CURRENT_VERSION) -> Deployment:
    """The deployment behind a catalogue profile under factor set `version` (cached: both immutable)."""
    factors = load_factor_set(version)
    model = _ecologits_model(profile)
    active, total, model_warnings, params_source = _parameters(profile, model, factors)
    pue, wue, eco_pue, eco_wue, dc_warnings = _datacenter(profile, factors)
    bits, gpu_memory, hw_warnings = _hardware(profile, factors)
    mix = zone_mix(profile.zone, version)
    band = factors["utilisation"]["batch_size"]
    grid = factors["electricity"]["gwp_uncertainty"]
    speed = model.deployment if model is not None and model.deployment is not None else None
    return Deployment(
        active_params_b=active,
        total_params_b=total,
        batch_size=Triple(float(band["energy_low"]), float(band["central"]), float(band["energy_high"])),
        pue=pue,
        wue_l_per_kwh=wue,
        grid=Triple(float(grid["low"]), 1.0, float(grid["high"])),
        quantisation_bits=bits,
        ecologits_pue=eco_pue,
        ecologits_wue=eco_wue,
        mix=mix,
        gpu_memory_gb=gpu_memory,
        gpu_count=profile.gpu_count,
        tps=speed.tps if speed else None,
        ttft_s=speed.ttft if speed else None,
        warnings=model_warnings + dc_warnings + hw_warnings + mix.warnings,
        parameters_source=params_source,
        factor_set_version=version,
    )


def ecologits_dag(d: Deployment, s: Scenario, tokens: float, latency_s: float) -> dict[str, float]:
    """One evaluation of EcoLogits' DAG for scenario `s`, in Sobria's units."""
    inputs: dict[str, Any] = {
        "model_active_parameter_count": s.active_b,
        "model_total_parameter_count": s.total_b,
        "output_token_count": tokens,
        "request_latency": latency_s,
        "if_electricity_mix_adpe": d.mix.adpe_kgsbeq_per_kwh,
        "if_electricity_mix_pe": d.mix.pe_mj_per_kwh,
        "if_electricity_mix_gwp": d.mix.gwp_kg_per_kwh * s.grid,
        "if_electricity_mix_wue": d.mix.wue_l_per_kwh,
        "datacenter_pue": s.pue,
        "datacenter_wue": s.wue,
        "batch_size": s.batch,
        "tps": d.tps,
        "ttft": d.ttft_s,
        "model_quantization_bits": s.bits,
        "gpu_memory": d.gpu_memory_gb,
    }
    out: dict[str, Any]
    if d.gpu_count is None:
        out = dict(compute_llm_impacts_dag(**inputs))
    else:  # a declared GPU count per replica replaces EcoLogits' memory-based count
        out = ecologits_llm.dag.execute(**(_DAG_DEFAULTS | inputs | {"gpu_required_count": d.gpu_count}))
    result = {k: float(out[k]) * unit for k, unit in _FIELDS.items()}
    result[_ONSITE] = result["request_it_energy"] * s.wue
    result["generation_latency"] = float(out["generation_latency"])
    return result


def _affine(d: Deployment, s: Scenario) -> _Affine:
    """EcoLogits' coefficients from three probes: (1 token, no cap), (1 token, 0 s), (0 token, no cap)."""
    free = ecologits_dag(d, s, 1.0, math.inf)
    tokens_only = ecologits_dag(d, s, 1.0, 0.0)
    first = ecologits_dag(d, s, 0.0, math.inf)
    seconds = free["generation_latency"]
    return _Affine(
        per_token={k: tokens_only[k] for k in _KEYS},
        per_second={k: (free[k] - tokens_only[k]) / seconds for k in _KEYS},
        seconds_per_token=seconds - first["generation_latency"],
        first_token_s=first["generation_latency"],
    )


@dataclass(frozen=True, slots=True)
class _Coefficients:
    central: _Affine
    ends: dict[tuple[str, str], _Affine]  # (factor, "low" | "high") -> scenario
    ecologits_low: _Affine  # EcoLogits' own lower bound (its batch, PUE and WUE table)
    ecologits_high: _Affine
    # The same scenarios stacked for one vectorised evaluation per request. Rows: central,
    # then each factor's low and high end, then central twice more (prefill min and max).
    per_token: np.ndarray
    per_second: np.ndarray
    seconds_per_token: np.ndarray
    first_token_s: np.ndarray


@lru_cache(maxsize=512)
def _coefficients(profile: ImpactProfile, version: str) -> _Coefficients:
    d = resolve(profile, version)
    ends = {(f, end): _affine(d, d.scenario(f, end)) for f in DAG_FACTORS for end in ("low", "high")}
    nominal = float(_DAG_DEFAULTS["batch_size"])
    bits = float(_DAG_DEFAULTS["model_quantization_bits"]) if profile.quantisation_bits is None else d.quantisation_bits.central
    eco = [
        Scenario(d.active_params_b.low, d.total_params_b.low, nominal, d.ecologits_pue[0], d.ecologits_wue[0], 1.0, bits),
        Scenario(d.active_params_b.high, d.total_params_b.high, nominal, d.ecologits_pue[1], d.ecologits_wue[1], 1.0, bits),
    ]
    central = _affine(d, d.scenario())
    rows = [central, *(ends[(f, end)] for f in DAG_FACTORS for end in ("low", "high")), central, central]
    return _Coefficients(
        central, ends, _affine(d, eco[0]), _affine(d, eco[1]),
        per_token=np.array([[a.per_token[k] for k in _KEYS] for a in rows]),
        per_second=np.array([[a.per_second[k] for k in _KEYS] for a in rows]),
        seconds_per_token=np.array([a.seconds_per_token for a in rows]),
        first_token_s=np.array([a.first_token_s for a in rows]),
    )


_HIGH_ROWS = np.array([2 + 2 * i for i in range(len(DAG_FACTORS))] + [2 * len(DAG_FACTORS) + 2])


def _evaluate(c: _Coefficients, n_central: float, n_min: float, n_max: float, latency: float) -> np.ndarray:
    """Every scenario's figures (rows as in `_Coefficients`, columns as `_KEYS`) in one pass."""
    tokens = np.full(len(c.seconds_per_token), n_central)
    tokens[-2], tokens[-1] = n_min, n_max
    seconds = np.minimum(latency, tokens * c.seconds_per_token + c.first_token_s)
    return c.per_token * tokens[:, None] + c.per_second * seconds[:, None]


def _request_figures(c: _Coefficients, ratio: PrefillRatio, request: _Request) -> np.ndarray:
    """`_evaluate` for one validated request: its tokens at the central prefill ratio, then at both ends."""
    n_in, n_out = request.input_tokens, request.output_tokens
    return _evaluate(
        c, equivalent_tokens(n_in, n_out, ratio.value), equivalent_tokens(n_in, n_out, ratio.min),
        equivalent_tokens(n_in, n_out, ratio.max), request.latency_s,
    )


def _combine_all(figures: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`combine` and `_corner` for every key at once: (central, min, max, reservation corner).

    Reductions are called on the ufuncs themselves (`np.add.reduce`, not `np.sum`): the
    same arithmetic without numpy's Python-level dispatch, which cost more than the sums
    on arrays this small (the estimate runs for every deployment a request may reach)."""
    central = figures[0]
    positive = central > 0
    safe = np.where(positive, central, 1.0)
    ratios = figures[1:] / safe
    logs = np.log(np.maximum(ratios, 1e-300))  # never log(0): no divide warning to silence
    squares = logs * logs
    down = np.sqrt(np.add.reduce(np.where(logs < 0, squares, 0.0), axis=0))
    up = np.sqrt(np.add.reduce(np.where(logs > 0, squares, 0.0), axis=0))
    highest = np.maximum.reduce(figures[1:], axis=0, initial=0.0)
    low = np.where(positive, central * np.exp(-down), 0.0)
    high = np.where(positive, central * np.exp(up), np.maximum(highest, 0.0))
    upward = np.multiply.reduce(np.maximum(ratios[_HIGH_ROWS - 1], 1.0), axis=0)
    corner = np.where(positive, central * upward, high)
    return central, low, high, corner


def combine(central: float, lows: list[float], highs: list[float]) -> tuple[float, float]:
    """(min, max) around `central` from each input's figure at its two ends, by the stated rule.

    Each input contributes ln(figure / central) on either side; the sides combine as
    root-sum-square. An input whose both ends move the figure the same way counts on
    that side only."""
    if central <= 0:
        return 0.0, max([0.0, *lows, *highs])
    down = up = 0.0
    inverse = 1.0 / central
    for figure in (*lows, *highs):
        ratio = figure * inverse
        if ratio < 1.0:
            r = math.log(ratio) if ratio > 0 else -700.0
            down += r * r
        elif ratio > 1.0:
            r = math.log(ratio)
            up += r * r
    return central * math.exp(-math.sqrt(down)), central * math.exp(math.sqrt(up))


def _corner(central: float, highs: list[float]) -> float:
    """Interval arithmetic's upper corner: every input's upward ratio multiplied together."""
    if central <= 0:
        return max([0.0, *highs])
    return central * math.prod(max(h / central, 1.0) for h in highs)


@dataclass(frozen=True, slots=True)
class _Request:
    input_tokens: int
    output_tokens: int
    latency_s: float
    warnings: tuple[str, ...]


def validate_request(input_tokens: Any, output_tokens: Any, latency_s: Any) -> _Request:
    """Impossible inputs clamped, each with a warning code: never NaN, never min > max."""
    warnings: list[str] = []

    def tokens(name: str, value: Any) -> int:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            warnings.append(f"{name}-tokens-invalid-clamped: {value!r} counted as 0")
            return 0
        if number < 0:
            warnings.append(f"{name}-tokens-negative-clamped: {value!r} counted as 0")
            return 0
        if number > MAX_TOKENS:
            warnings.append(f"{name}-tokens-over-limit-clamped: {value!r} counted as {MAX_TOKENS}")
            return MAX_TOKENS
        return int(number)

    n_in, n_out = tokens("input", input_tokens), tokens("output", output_tokens)
    latency = math.inf
    if latency_s is not None:
        try:
            latency = float(latency_s)
        except (TypeError, ValueError):
            latency = math.nan
        if not math.isfinite(latency) or latency < 0:
            warnings.append(f"latency-invalid-ignored: {latency_s!r} replaced by the modelled generation time")
            latency = math.inf
    return _Request(n_in, n_out, latency, tuple(warnings))


def _criteria(ranges: dict[str, Range], phase: str) -> Criteria:
    if phase == "usage":
        return Criteria(
            energy_wh=ranges["request_energy"],
            gwp_g=ranges["request_usage_gwp"],
            water_ml=ranges["request_usage_wcf"],
            adpe_kgsbeq=ranges["request_usage_adpe"],
            pe_mj=ranges["request_usage_pe"],
        )
    return Criteria(
        gwp_g=ranges["request_embodied_gwp"],
        adpe_kgsbeq=ranges["request_embodied_adpe"],
        pe_mj=ranges["request_embodied_pe"],
    )


#: The columns a reservation reads: usage and embodied CO2e, energy.
_BOUND_COLUMNS = [_KEYS.index("request_usage_gwp"), _KEYS.index("request_embodied_gwp"), _KEYS.index("request_energy")]


class HostedEstimator:
    """Model-based estimate for a hosted (or self-hosted, unmeasured) model request.

    `factor_set_version` selects the factor-set file (the current one by default; the
    restatement command passes another). Stateless apart from per-profile caches.
    """

    method_id = METHOD_ID

    def __init__(self, factor_set_version: str = CURRENT_VERSION):
        load_factor_set(factor_set_version)  # refuses an unknown version now, not per request
        self.factor_set_version = factor_set_version

    def estimate(
        self, profile: ImpactProfile, input_tokens: int, output_tokens: int, latency_s: float | None = None
    ) -> Impacts:
        """Impacts of one request: central value, [min, max] by the uncertainty model, the
        reservation bound, market-based when declared; supplier figures when they describe
        this model version."""
        request = validate_request(input_tokens, output_tokens, latency_s)
        version = self.factor_set_version
        d = resolve(profile, version)
        c = _coefficients(profile, version)
        ratio = prefill_ratio(version)
        n_in, n_out, latency = request.input_tokens, request.output_tokens, request.latency_s
        figures = _request_figures(c, ratio, request)
        values, lows, highs, corners = (x.tolist() for x in _combine_all(figures))
        ranges = {key: Range(values[i], lows[i], highs[i]) for i, key in enumerate(_KEYS)}
        corner = dict(zip(_KEYS, corners))
        usage, embodied = _criteria(ranges, "usage"), _criteria(ranges, "embodied")
        market = _market_factor(profile, version)
        extra: dict[str, Any] = {
            "prefill_ratio": ratio.value,
            "water_onsite_ml": ranges[_ONSITE].as_dict(),
            "uncertainty": _uncertainty_note(figures),
            "ecologits": _ecologits_only(c, n_out, latency),
            "gwp_market_g": None,
            "market_based": {"available": False, "reason": "no contractual factor declared for this supplier and zone"},
            "reservation_bound": {
                "rule": RESERVATION_RULE,
                "gwp_g": corner["request_usage_gwp"] + corner["request_embodied_gwp"],
                "energy_wh": corner["request_energy"],
            },
            "inputs": {
                "profile": _profile_dict(profile),
                "input_tokens": n_in,
                "output_tokens": n_out,
                "latency_s": None if math.isinf(latency) else latency,
                "resolved": d.as_inputs(),
            },
        }
        if market is not None:
            factor, source = market
            extra["gwp_market_g"] = market_gwp(usage, embodied, factor).as_dict()
            extra["market_based"] = {"available": True, "gwp_kg_per_kwh": factor, "source": source}
        estimate = Impacts(
            usage=usage,
            embodied=embodied,
            method_id=METHOD_ID,
            factor_set_version=version,
            source=SOURCE,
            zone=d.mix.zone,
            warnings=request.warnings + d.warnings,
            extra=extra,
            reservation_gwp_g=extra["reservation_bound"]["gwp_g"],
        )
        supplier = supplier_factor_for(profile, version)
        if supplier is None:
            return estimate
        return supplier_impacts(supplier, estimate, n_in, n_out, d.mix.gwp_kg_per_kwh, ratio)

    def reservation_bounds(self, requests: Sequence[tuple[ImpactProfile, int, int]]) -> list[ReservationBound]:
        """For each (profile, input tokens, output tokens), the figures `estimate` gives a
        reservation, without the rest of the estimate and in one vectorised combination
        for all of them. A request is reserved against every deployment it may reach, and
        a full estimate for each cost more than the rest of its admission. A profile
        with supplier figures takes the full estimate (its bound includes them). The energy
        may differ from the estimate's in its last bit (numpy may take another code path
        on the stacked array); the CO2e bound is the same integer."""
        version = self.factor_set_version
        bounds: dict[int, ReservationBound] = {}
        blocks: list[np.ndarray] = []
        modelled: list[int] = []
        ratio = prefill_ratio(version)
        for i, (profile, input_tokens, output_tokens) in enumerate(requests):
            if supplier_factor_for(profile, version) is not None:
                impacts = self.estimate(profile, input_tokens, output_tokens)
                bounds[i] = ReservationBound(impacts.reservation_bound_gwp_ug(), impacts.energy_wh.max)
                continue
            request = validate_request(input_tokens, output_tokens, None)
            figures = _request_figures(_coefficients(profile, version), ratio, request)
            blocks.append(figures[:, _BOUND_COLUMNS])
            modelled.append(i)
        if blocks:
            _, _, highs, corners = (x.tolist() for x in _combine_all(np.hstack(blocks)))
            for j, i in enumerate(modelled):
                usage, embodied, energy = 3 * j, 3 * j + 1, 3 * j + 2
                gwp_ug = reserved_gwp_ug(corners[usage] + corners[embodied], highs[usage] + highs[embodied])
                bounds[i] = ReservationBound(gwp_ug, highs[energy])
        return [bounds[i] for i in range(len(requests))]


def _uncertainty_note(figures: np.ndarray) -> dict[str, Any]:
    """Each input's ratio to the central energy at its two ends, and the rule combining them."""
    energy = figures[:, _KEYS.index("request_energy")].tolist()
    central = energy[0]
    ends = energy[1:]
    names = (*DAG_FACTORS, "prefill")
    ratios = {
        name: {
            "low": ends[2 * i] / central if central > 0 else 1.0,
            "high": ends[2 * i + 1] / central if central > 0 else 1.0,
        }
        for i, name in enumerate(names)
    }
    return {"rule": COMBINATION_RULE, "energy_ratio_by_input": ratios}


def market_gwp(usage: Criteria, embodied: Criteria, market_kg_per_kwh: float) -> Range:
    """Market-based GWP in g: usage energy at the contractual factor, plus embodied (not a Scope 2 item)."""
    return usage.energy_wh.scale(market_kg_per_kwh) + embodied.gwp_g


def _market_factor(profile: ImpactProfile, version: str) -> tuple[float, str] | None:
    """The contractual factor (kg/kWh) and its source: the catalogue's, else the factor set's for
    this supplier and zone, else None (market-based not available)."""
    if profile.market_gwp_kg_per_kwh is not None:
        return profile.market_gwp_kg_per_kwh, profile.market_source or "catalogue declaration"
    for entry in load_factor_set(version).get("market_based") or []:
        if entry["supplier"] == profile.provider and entry["zone"] == profile.zone:
            return float(entry["gwp_kg_per_kwh"]), f"{entry['instrument']}: {entry['source']} ({entry['year']})"
    return None


def _ecologits_only(c: _Coefficients, output_tokens: int, latency: float) -> dict[str, Any]:
    """EcoLogits' own range for the decoded tokens (no prefill, its batch and PUE), for audit."""
    low, high = c.ecologits_low.at(output_tokens, latency), c.ecologits_high.at(output_tokens, latency)
    return {
        "energy_wh": {"min": low["request_energy"], "max": high["request_energy"]},
        "gwp_g": {
            "min": low["request_usage_gwp"] + low["request_embodied_gwp"],
            "max": high["request_usage_gwp"] + high["request_embodied_gwp"],
        },
        "water_ml": {"min": low["request_usage_wcf"], "max": high["request_usage_wcf"]},
    }


@lru_cache(maxsize=512)
def _profile_dict_cached(profile: ImpactProfile) -> dict[str, Any]:
    return profile_to_dict(profile)


def _profile_dict(profile: ImpactProfile) -> dict[str, Any]:
    """A fresh copy of the cached dict (the record may be mutated downstream)."""
    return dict(_profile_dict_cached(profile))


def profile_to_dict(profile: ImpactProfile) -> dict[str, Any]:
    """The profile as plain JSON (stored on each row so a restatement needs no catalogue)."""
    out: dict[str, Any] = {}
    for name in profile.__dataclass_fields__:
        value = getattr(profile, name)
        if isinstance(value, Range):
            value = [value.min, value.max]
        elif value is not None and hasattr(value, "__dataclass_fields__"):
            value = {k: getattr(value, k) for k in value.__dataclass_fields__}
        out[name] = value
    return out


def profile_from_dict(raw: dict[str, Any]) -> ImpactProfile:
    """The inverse of `profile_to_dict`."""
    from estimators.impacts import SupplierFactor

    values = dict(raw)
    for name in ("total_params_b", "active_params_b", "pue", "wue_l_per_kwh"):
        if values.get(name) is not None:
            low, high = values[name]
            values[name] = Range.exact(low) if low == high else Range.between(low, high)
    if values.get("supplier") is not None:
        values["supplier"] = SupplierFactor(**values["supplier"])
    known = ImpactProfile.__dataclass_fields__
    return ImpactProfile(**{k: v for k, v in values.items() if k in known})
