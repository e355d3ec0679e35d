"""Model-based impacts of a hosted model request: EcoLogits, plus prefill and utilisation.

The figures are EcoLogits' (`ecologits` pinned at 0.11.3): its model repository, its
provider data-centre table, its electricity mixes and its impact functions. For a
fixed deployment, EcoLogits' request impacts are affine in two quantities: tokens
decoded and seconds of generation (`min(measured latency, modelled latency)`). So per
profile we evaluate EcoLogits' own DAG at three probe points, keep the affine
coefficients, and each request costs a few multiplications (and stays exactly equal to
EcoLogits for the same inputs). Sobria adds two documented terms (factor set):
input tokens (`prefill`) and the utilisation band that sets the upper bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from ecologits import __version__ as ECOLOGITS_VERSION
from ecologits.impacts.llm import compute_llm_impacts_dag
from ecologits.model_repository import ParametersMoE, models
from ecologits.tracers.utils import PROVIDER_CONFIG_MAP
from ecologits.utils.range_value import RangeValue

from estimators.factors import factor_set, factor_set_version
from estimators.impacts import Criteria, ImpactProfile, Impacts, Range
from estimators.mixes import ZoneMix, zone_mix
from estimators.prefill import equivalent_tokens, prefill_ratio
from estimators.supplier import supplier_impacts

METHOD_ID = f"ecologits-{ECOLOGITS_VERSION}+sobria-prefill-1"
FACTOR_SET_VERSION = factor_set_version()
SOURCE = "model-based"

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


@dataclass(frozen=True, slots=True)
class _Affine:
    """EcoLogits for one parameter bound: field = per_token * N + per_second * latency."""

    per_token: dict[str, float]
    per_second: dict[str, float]
    seconds_per_token: float
    first_token_s: float

    def at(self, tokens: float, latency_s: float) -> dict[str, float]:
        generation_s = min(latency_s, tokens * self.seconds_per_token + self.first_token_s)
        return {k: self.per_token[k] * tokens + self.per_second[k] * generation_s for k in _FIELDS}


@dataclass(frozen=True, slots=True)
class Deployment:
    """Everything resolved once per profile: parameters, data centre, mix, speed, warnings."""

    active_params_b: tuple[float, float]
    total_params_b: tuple[float, float]
    pue: tuple[float, float]
    wue_l_per_kwh: tuple[float, float]
    mix: ZoneMix
    tps: float | None
    ttft_s: float | None
    warnings: tuple[str, ...]
    parameters_source: str


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


def _parameters(profile: ImpactProfile, model: Any) -> tuple[tuple[float, float], tuple[float, float], tuple[str, ...], str]:
    """(active, total) parameter bounds in billions, warnings, and where they came from."""
    if profile.active_params_b is not None or profile.total_params_b is not None:
        declared_active = profile.active_params_b or profile.total_params_b
        declared_total = profile.total_params_b or profile.active_params_b
        return _bounds(declared_active), _bounds(declared_total), (), "catalogue"
    if model is None:
        unknown = factor_set()["unknown_model"]
        warning = (
            f"model-unknown: {profile.ecologits_provider}/{profile.ecologits_model} is not in EcoLogits "
            "and the catalogue declares no parameter count; a conservative range is used"
        )
        active = (float(unknown["active_params_b"]["min"]), float(unknown["active_params_b"]["max"]))
        total = (float(unknown["total_params_b"]["min"]), float(unknown["total_params_b"]["max"]))
        return active, total, (warning,), "unknown-model default"
    params = model.architecture.parameters
    if isinstance(params, ParametersMoE):
        active, total = _bounds(params.active), _bounds(params.total)
    else:
        active = total = _bounds(params)
    return active, total, tuple(w.code for w in model.warnings), "ecologits"


def _datacenter(profile: ImpactProfile) -> tuple[tuple[float, float], tuple[float, float], tuple[str, ...]]:
    """(PUE, WUE) bounds: catalogue first, then EcoLogits' provider table, then the default."""
    config = PROVIDER_CONFIG_MAP.get(profile.ecologits_provider or "")
    default = factor_set()["unknown_datacenter"]
    warnings: tuple[str, ...] = ()
    if profile.pue is not None:
        pue = _bounds(profile.pue)
    elif config is not None:
        pue = _bounds(config.datacenter_pue)
    else:
        pue = (float(default["pue"]["min"]), float(default["pue"]["max"]))
        warnings += ("datacenter-pue-unknown: default PUE range used",)
    if profile.wue_l_per_kwh is not None:
        wue = _bounds(profile.wue_l_per_kwh)
    elif config is not None:
        wue = _bounds(config.datacenter_wue)
    else:
        wue = (float(default["wue_l_per_kwh"]["min"]), float(default["wue_l_per_kwh"]["max"]))
        warnings += ("datacenter-wue-unknown: default WUE range used",)
    return pue, wue, warnings


@lru_cache(maxsize=256)
def resolve(profile: ImpactProfile) -> Deployment:
    """The deployment behind a catalogue profile (cached: profiles are immutable)."""
    model = _ecologits_model(profile)
    active, total, model_warnings, params_source = _parameters(profile, model)
    pue, wue, dc_warnings = _datacenter(profile)
    mix = zone_mix(profile.zone)
    speed = model.deployment if model is not None and model.deployment is not None else None
    return Deployment(
        active_params_b=active,
        total_params_b=total,
        pue=pue,
        wue_l_per_kwh=wue,
        mix=mix,
        tps=speed.tps if speed else None,
        ttft_s=speed.ttft if speed else None,
        warnings=model_warnings + dc_warnings + mix.warnings,
        parameters_source=params_source,
    )


def ecologits_dag(d: Deployment, bound: int, tokens: float, latency_s: float, batch_size: int) -> dict[str, float]:
    """One evaluation of EcoLogits' DAG at the lower (0) or upper (1) bound of every input."""
    out = compute_llm_impacts_dag(
        model_active_parameter_count=d.active_params_b[bound],
        model_total_parameter_count=d.total_params_b[bound],
        output_token_count=tokens,
        request_latency=latency_s,
        if_electricity_mix_adpe=d.mix.adpe_kgsbeq_per_kwh,
        if_electricity_mix_pe=d.mix.pe_mj_per_kwh,
        if_electricity_mix_gwp=d.mix.gwp_kg_per_kwh,
        if_electricity_mix_wue=d.mix.wue_l_per_kwh,
        datacenter_pue=d.pue[bound],
        datacenter_wue=d.wue_l_per_kwh[bound],
        batch_size=batch_size,
        tps=d.tps,
        ttft=d.ttft_s,
    )
    scalars = cast(dict[str, float], out)  # every input is a scalar at one bound, so every output is too
    return {k: float(scalars[k]) * unit for k, unit in _FIELDS.items()} | {"generation_latency": float(scalars["generation_latency"])}


def _affine(d: Deployment, bound: int, batch_size: int) -> _Affine:
    """EcoLogits' coefficients from three probes: (1 token, no cap), (1 token, 0 s), (0 token, no cap)."""
    free = ecologits_dag(d, bound, 1.0, math.inf, batch_size)
    tokens_only = ecologits_dag(d, bound, 1.0, 0.0, batch_size)
    first = ecologits_dag(d, bound, 0.0, math.inf, batch_size)
    seconds = free["generation_latency"]
    per_second = {k: (free[k] - tokens_only[k]) / seconds for k in _FIELDS}
    return _Affine(
        per_token=dict((k, tokens_only[k]) for k in _FIELDS),
        per_second=per_second,
        seconds_per_token=seconds - first["generation_latency"],
        first_token_s=first["generation_latency"],
    )


@dataclass(frozen=True, slots=True)
class _Coefficients:
    low: _Affine  # lower parameter bound, EcoLogits' nominal batch
    high: _Affine  # upper parameter bound, EcoLogits' nominal batch
    high_low_batch: _Affine  # upper parameter bound, low-utilisation batch (Sobria's max)


@lru_cache(maxsize=256)
def _coefficients(profile: ImpactProfile) -> _Coefficients:
    d = resolve(profile)
    band = factor_set()["utilisation"]
    nominal, low_batch = int(band["batch_size_nominal"]), int(band["batch_size_low"])
    return _Coefficients(_affine(d, 0, nominal), _affine(d, 1, nominal), _affine(d, 1, low_batch))


def _range(key: str, low: dict[str, float], mid: dict[str, float], high: dict[str, float]) -> Range:
    return Range(mid[key], low[key], high[key])


def _criteria(low: dict[str, float], mid: dict[str, float], high: dict[str, float], phase: str) -> Criteria:
    if phase == "usage":
        return Criteria(
            energy_wh=_range("request_energy", low, mid, high),
            gwp_g=_range("request_usage_gwp", low, mid, high),
            water_ml=_range("request_usage_wcf", low, mid, high),
            adpe_kgsbeq=_range("request_usage_adpe", low, mid, high),
            pe_mj=_range("request_usage_pe", low, mid, high),
        )
    return Criteria(
        gwp_g=_range("request_embodied_gwp", low, mid, high),
        adpe_kgsbeq=_range("request_embodied_adpe", low, mid, high),
        pe_mj=_range("request_embodied_pe", low, mid, high),
    )


def _mean(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: (a[k] + b[k]) / 2 for k in a}


class HostedEstimator:
    """Model-based estimate for a hosted (or self-hosted, unmeasured) model request.

    Stateless apart from per-profile caches; safe to share between threads.
    """

    method_id = METHOD_ID
    factor_set_version = FACTOR_SET_VERSION

    def estimate(
        self, profile: ImpactProfile, input_tokens: int, output_tokens: int, latency_s: float | None = None
    ) -> Impacts:
        """Impacts of one request: value is EcoLogits' central estimate plus the central prefill term;
        min is EcoLogits' lower bound with the low prefill ratio; max is EcoLogits' upper bound at
        low utilisation with the high prefill ratio. A declared supplier factor takes precedence."""
        c = _coefficients(profile)
        d = resolve(profile)
        ratio = prefill_ratio()
        latency = math.inf if latency_s is None else max(float(latency_s), 0.0)
        n_mid = equivalent_tokens(input_tokens, output_tokens, ratio.value)
        low = c.low.at(equivalent_tokens(input_tokens, output_tokens, ratio.min), latency)
        mid = _mean(c.low.at(n_mid, latency), c.high.at(n_mid, latency))
        high = c.high_low_batch.at(equivalent_tokens(input_tokens, output_tokens, ratio.max), latency)
        usage = _criteria(low, mid, high, "usage")
        embodied = _criteria(low, mid, high, "embodied")
        extra = {
            "prefill_ratio": ratio.value,
            "water_onsite_ml": _onsite_water(d, low, mid, high).as_dict(),
            "ecologits": _ecologits_only(c, output_tokens, latency),
        }
        if profile.market_gwp_kg_per_kwh is not None:
            extra["gwp_market_g"] = market_gwp(usage, embodied, profile.market_gwp_kg_per_kwh).as_dict()
        estimate = Impacts(
            usage=usage,
            embodied=embodied,
            method_id=METHOD_ID,
            factor_set_version=FACTOR_SET_VERSION,
            source=SOURCE,
            zone=d.mix.zone,
            warnings=d.warnings,
            extra=extra,
        )
        if profile.supplier is None:
            return estimate
        return supplier_impacts(profile.supplier, estimate, input_tokens, output_tokens)


def _onsite_water(d: Deployment, low: dict[str, float], mid: dict[str, float], high: dict[str, float]) -> Range:
    """Water evaporated by the data centre itself (IT energy x WUE), without the grid's water."""
    key = "request_it_energy"
    wue_low, wue_high = d.wue_l_per_kwh
    return Range(mid[key] * (wue_low + wue_high) / 2, low[key] * wue_low, high[key] * wue_high)


def market_gwp(usage: Criteria, embodied: Criteria, market_kg_per_kwh: float) -> Range:
    """Market-based GWP in g: usage energy at the declared contractual factor, plus embodied."""
    return usage.energy_wh.scale(market_kg_per_kwh) + embodied.gwp_g


def _ecologits_only(c: _Coefficients, output_tokens: int, latency: float) -> dict[str, Any]:
    """EcoLogits' own figures for the decoded tokens (no prefill, nominal batch), for audit."""
    low, high = c.low.at(output_tokens, latency), c.high.at(output_tokens, latency)
    return {
        "energy_wh": {"min": low["request_energy"], "max": high["request_energy"]},
        "gwp_g": {
            "min": low["request_usage_gwp"] + low["request_embodied_gwp"],
            "max": high["request_usage_gwp"] + high["request_embodied_gwp"],
        },
        "water_ml": {"min": low["request_usage_wcf"], "max": high["request_usage_wcf"]},
    }
