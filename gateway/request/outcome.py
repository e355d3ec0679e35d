"""What a caller is told besides the provider's answer: `X-Sobria-*` headers and `usage.sobria`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from estimators.impacts import Impacts
from gateway.budgets.gate import BudgetView, format_micro
from gateway.providers.catalogue import ModelSpec
from gateway.request.flight import Flight, Outcome

log = logging.getLogger("sobria.usage")


#: The warning code of an answer whose provider-reported token counts were impossible and clamped.
CLAMPED_USAGE_WARNING = "provider-usage-clamped"


def format_figure(value: float) -> str:
    """An impact figure for a header: six significant digits."""
    return f"{value:.6g}"


def base_headers(flight: Flight, spec: ModelSpec) -> dict[str, str]:
    """Headers known as soon as the request is routed (the first ones a stream sends)."""
    decision = flight.decision
    assert decision is not None
    headers = {
        "X-Request-Id": flight.request_id,
        "X-Sobria-Model": flight.served or spec.name,
        "X-Sobria-Use-Case": decision.use_case,
        "X-Sobria-Rule": decision.rule_id,
        "X-Sobria-Policy-Version": decision.policy_version,
    }
    if spec.is_demo:
        headers["X-Sobria-Demo"] = "true"
    return headers


def completion_outcome(flight: Flight, spec: ModelSpec, cost: int, impacts: Impacts, view: BudgetView) -> Outcome:
    """Headers and `usage.sobria` of a settled completion."""
    decision = flight.decision
    assert decision is not None
    total = impacts.total
    market = impacts.gwp_market_g
    sobria: dict[str, Any] = {
        "request_id": flight.request_id,
        "model": flight.served or spec.name,
        "use_case": decision.use_case,
        "rule": decision.rule_id,
        "policy_version": decision.policy_version,
        "reason": decision.reason,
        "demo": spec.is_demo,
        "cost_eur": format_micro(cost),
        "energy_wh": total.energy_wh.as_dict(),
        "gwp_g": total.gwp_g.as_dict(),
        "water_ml": total.water_ml.as_dict(),
        "adpe_kgsbeq": total.adpe_kgsbeq.as_dict(),
        "pe_mj": total.pe_mj.as_dict(),
        "embodied_gwp_g": impacts.embodied.gwp_g.as_dict(),
        "gwp_market_g": market.as_dict() if market is not None else None,
        "warnings": list(impacts.warning_codes) + ([CLAMPED_USAGE_WARNING] if flight.usage_source == "clamped" else []),
        "usage_source": flight.usage_source,
        "impact_method": impacts.method_id,
        "factor_set_version": impacts.factor_set_version,
        "impact_source": impacts.source,
        "zone": impacts.zone,
        "budget_remaining_eur": view.remaining_eur,
        "carbon_budget_remaining_g": view.remaining_gco2e,
    }
    headers = base_headers(flight, spec)
    headers.update(
        {
            "X-Sobria-Energy-Wh": format_figure(total.energy_wh.value),
            "X-Sobria-CO2e-g": format_figure(total.gwp_g.value),
            "X-Sobria-Water-mL": format_figure(total.water_ml.value),
            "X-Sobria-Cost-EUR": format_micro(cost),
            "X-Sobria-Budget-Remaining-EUR": view.remaining_eur,
            "X-Sobria-Carbon-Budget-Remaining-g": view.remaining_gco2e,
        }
    )
    if view.warnings:
        sobria["budget_warnings"] = view.warnings
        headers["X-Sobria-Budget-Warning"] = "; ".join(view.warnings)
    return Outcome(headers, sobria)


USAGE_PROVIDER = "provider"
USAGE_COUNTED = "counted"
USAGE_CLAMPED = "clamped"


@dataclass(frozen=True, slots=True)
class ChargedUsage:
    """The tokens a request is charged for, and where the figures come from."""

    input_tokens: int
    output_tokens: int
    source: str


def _provider_figure(usage: dict[str, Any] | None, name: str) -> int | None:
    """A provider's token figure as an int; None when absent or not a number."""
    value = (usage or {}).get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def charged_usage(
    provider: dict[str, Any] | None,
    counted_input: int,
    counted_output: int,
    input_bound: int,
    output_bound: int,
    request_id: str = "",
    trust_provider: bool = True,
) -> ChargedUsage:
    """What to charge: the provider's figures when plausible, else our own count.

    No usage (or a missing figure) is charged at the gateway's count (`counted`); a
    negative figure is replaced by the count and one above the request's bound is cut
    to the bound (`clamped`, logged). The result is never negative nor above the bound."""
    counted_input = max(0, min(counted_input, input_bound)) if input_bound else max(0, counted_input)
    counted_output = max(0, min(counted_output, output_bound))
    if not trust_provider:
        return ChargedUsage(counted_input, counted_output, USAGE_COUNTED)
    figures = []
    source = USAGE_PROVIDER
    for name, counted, bound in (
        ("prompt_tokens", counted_input, input_bound),
        ("completion_tokens", counted_output, output_bound),
    ):
        value = _provider_figure(provider, name)
        if value is None:
            figures.append(counted)
            source = USAGE_COUNTED if source == USAGE_PROVIDER else source
        elif value < 0 or (bound and value > bound):
            clamped = counted if value < 0 else bound
            log.warning("provider usage %s=%s impossible for %s (bound %s): charged %s", name, value, request_id,
                        bound, clamped)
            figures.append(clamped)
            source = USAGE_CLAMPED
        else:
            figures.append(value)
    return ChargedUsage(figures[0], figures[1], source)
