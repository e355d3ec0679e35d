"""Supplier-specific impacts: a provider's own published per-request figures.

The GHG Protocol asks for supplier-specific data before secondary estimates. When the
catalogue declares a `SupplierFactor` for a model, the record's totals come from it,
scaled by the request's size (decoded tokens plus the prefill-weighted prompt, against
the supplier's reference response); the model-based estimate stays in `extra`.
Suppliers publish totals, not a usage/embodied split: the split follows the
model-based estimate's shares, and criteria the supplier did not publish stay model-based.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from estimators.impacts import Impacts, Range, SupplierFactor
from estimators.prefill import equivalent_tokens, prefill_ratio

SOURCE = "supplier-specific"
_CRITERIA = ("energy_wh", "gwp_g", "water_ml", "adpe_kgsbeq")


def supplier_factor_from_dict(raw: Mapping[str, Any] | None) -> SupplierFactor | None:
    """The catalogue's `impact.supplier` mapping as a `SupplierFactor` (None when absent)."""
    if not raw:
        return None
    return SupplierFactor(**dict(raw))


def _split(total: Range, usage: Range, embodied: Range) -> tuple[Range, Range]:
    whole = usage.value + embodied.value
    share = usage.value / whole if whole > 0 else 1.0
    return total.scale(share), total.scale(1.0 - share)


def supplier_impacts(factor: SupplierFactor, model_based: Impacts, input_tokens: int, output_tokens: int) -> Impacts:
    """The supplier's figures for this request, with the model-based estimate kept beside them."""
    scale = equivalent_tokens(input_tokens, output_tokens, prefill_ratio().value) / factor.reference_output_tokens
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
    extra = dict(model_based.extra)
    extra["supplier"] = {
        "source": factor.source,
        "note": factor.note,
        "reference_output_tokens": factor.reference_output_tokens,
        "scale": scale,
        "criteria_from_supplier": from_supplier,
        "criteria_from_model": from_model,
    }
    extra["model_based"] = {"source": model_based.source, "total": model_based.total.as_dict()}
    return Impacts(
        usage=usage,
        embodied=embodied,
        method_id=model_based.method_id,
        factor_set_version=model_based.factor_set_version,
        source=SOURCE,
        zone=model_based.zone,
        warnings=model_based.warnings + ("usage/embodied split of supplier totals follows the model-based shares",),
        extra=extra,
    )
