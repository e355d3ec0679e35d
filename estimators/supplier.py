"""Supplier-specific impacts: a provider's own published per-request figures.

The GHG Protocol asks for supplier-specific data before secondary estimates, but only
for what the data describe: a `SupplierFactor` applies to the one model version it was
published for (`model_version`), never to a successor or sibling. Scaling rule: the
published figures are per reference response of `reference_output_tokens` decoded
tokens with a short prompt; a request counts `(output + prefill_ratio x input) /
reference` reference responses. Suppliers publish totals, not a usage/embodied split:
the split follows the model-based shares. A criterion the supplier did not publish
stays model-based, and when energy is model-based beside a supplier GWP the implied
grid factor is compared with the zone's and any conflict is shown on the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from estimators.factors import CURRENT_VERSION, load_factor_set
from estimators.impacts import ImpactProfile, Impacts, Range, SupplierFactor
from estimators.prefill import PrefillRatio, equivalent_tokens

SOURCE = "supplier-specific"
_CRITERIA = ("energy_wh", "gwp_g", "water_ml", "adpe_kgsbeq")
CONFLICT_FACTOR = 2.0  # implied g/kWh more than 2x (or under 1/2x) the zone's: shown as a conflict


class SupplierFactorMismatch(ValueError):
    """A supplier factor declared on a model version it does not describe."""


def supplier_factor_from_dict(raw: Mapping[str, Any] | None) -> SupplierFactor | None:
    """The catalogue's `impact.supplier` mapping as a `SupplierFactor` (None when absent)."""
    if not raw:
        return None
    fields = SupplierFactor.__dataclass_fields__
    return SupplierFactor(**{k: v for k, v in dict(raw).items() if k in fields})


def supplier_factor_for(profile: ImpactProfile, version: str = CURRENT_VERSION) -> SupplierFactor | None:
    """The supplier factor describing exactly this profile's model version, or None."""
    if profile.supplier is not None:
        return profile.supplier if profile.supplier.model_version == profile.model_version else None
    if profile.model_version is None:
        return None
    raw = (load_factor_set(version).get("supplier_factors") or {}).get(profile.model_version)
    if raw is None:
        return None
    return supplier_factor_from_dict({**raw, "model_version": profile.model_version, "source": " ".join(raw["source"].split())})


def _split(total: Range, usage: Range, embodied: Range) -> tuple[Range, Range]:
    whole = usage.value + embodied.value
    share = usage.value / whole if whole > 0 else 1.0
    return total.scale(share), total.scale(1.0 - share)


def supplier_impacts(
    factor: SupplierFactor, model_based: Impacts, input_tokens: int, output_tokens: int, zone_gwp_kg_per_kwh: float, ratio: PrefillRatio
) -> Impacts:
    """The supplier's figures for this request, with the model-based estimate kept beside them."""
    scale = equivalent_tokens(input_tokens, output_tokens, ratio.value) / factor.reference_output_tokens
    usage, embodied = model_based.usage, model_based.embodied
    from_supplier, from_model = [], []
    for name in _CRITERIA:
        published = getattr(factor, name)
        if published is None:
            from_model.append(name)
            continue
        value = published * scale
        total = Range(value, value * (1 - factor.relative_uncertainty), value * (1 + factor.relative_uncertainty))
        u, e = _split(total, getattr(usage, name), getattr(embodied, name))
        usage, embodied = replace(usage, **{name: u}), replace(embodied, **{name: e})
        from_supplier.append(name)
    from_model.append("pe_mj")
    warnings = model_based.warnings + ("supplier-split-model-shares: usage/embodied split of supplier totals follows the model-based shares",)
    extra = dict(model_based.extra)
    conflict = _energy_conflict(factor, usage, zone_gwp_kg_per_kwh)
    if conflict is not None:
        warnings += (f"supplier-energy-conflict: {conflict['statement']}",)
    extra["supplier"] = {
        "source": factor.source,
        "model_version": factor.model_version,
        "note": factor.note,
        "reference_output_tokens": factor.reference_output_tokens,
        "scaling_rule": "(output tokens + prefill ratio x input tokens) / reference output tokens",
        "scale": scale,
        "criteria_from_supplier": from_supplier,
        "criteria_from_model": from_model,
        "energy_conflict": conflict,
    }
    extra["model_based"] = {"source": model_based.source, "total": model_based.total.as_dict()}
    if isinstance(extra.get("gwp_market_g"), dict):
        extra["gwp_market_g"] = None
        extra["market_based"] = {"available": False, "reason": "supplier GWP is location-based; no market-based supplier figure"}
    return Impacts(
        usage=usage,
        embodied=embodied,
        method_id=model_based.method_id,
        factor_set_version=model_based.factor_set_version,
        source=SOURCE,
        zone=model_based.zone,
        warnings=warnings,
        extra=extra,
        reservation_gwp_g=max(usage.gwp_g.max + embodied.gwp_g.max, model_based.reservation_gwp_g or 0.0),
    )


def _energy_conflict(factor: SupplierFactor, usage: Any, zone_gwp_kg_per_kwh: float) -> dict[str, Any] | None:
    """When energy and GWP come from different sources, the grid factor they imply against the zone's."""
    if factor.energy_wh is not None or factor.gwp_g is None or usage.energy_wh.value <= 0:
        return None
    implied = usage.gwp_g.value / usage.energy_wh.value  # g/Wh == kg/kWh
    if zone_gwp_kg_per_kwh > 0 and 1 / CONFLICT_FACTOR <= implied / zone_gwp_kg_per_kwh <= CONFLICT_FACTOR:
        return None
    return {
        "implied_gwp_kg_per_kwh": implied,
        "zone_gwp_kg_per_kwh": zone_gwp_kg_per_kwh,
        "statement": (
            f"supplier GWP over model-based energy implies {implied * 1000:.0f} g/kWh against the zone's "
            f"{zone_gwp_kg_per_kwh * 1000:.0f} g/kWh: the supplier did not publish energy, which stays model-based"
        ),
    }
