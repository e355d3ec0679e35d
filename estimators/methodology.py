"""The published method: what `GET /v1/impacts/methodology` returns.

Built from the same data the estimators use (factor set, EcoLogits version, zone
mixes), so the description cannot drift from the computation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from estimators.factors import available_versions, factor_set
from estimators.hosted import (
    COMBINATION_RULE,
    FACTOR_SET_VERSION,
    METHOD_ID,
    RESERVATION_RULE,
)
from estimators.mixes import zone_mix
from estimators.prefill import prefill_ratio

FORMULA = (
    "For each request, EcoLogits 0.11.3 estimates the energy of the GPUs and server serving "
    "the model from its active and total parameter counts, the tokens generated and the "
    "generation time, multiplies it by the data centre's PUE, and converts energy to GWP, "
    "abiotic depletion, primary energy and water with the electricity mix of the zone (water "
    "also counts the data centre's WUE). Embodied impacts are the manufacturing footprint of "
    "the GPUs and server, shared over their 3-year life by the time the request holds them. "
    "Sobria adds the prompt: each input token counts as a fraction of an output token "
    "(prefill ratio). The value evaluates that model at the central value of every uncertain "
    "input (parameter count, concurrent requests per server, PUE, WUE, grid factor, prefill "
    "ratio); each input moved alone to its low and high end gives a ratio to the value, and "
    "the ratios combine as the root-sum-square of their logarithms into [min, max]. Budgets "
    "reserve on the corner where every input is at its high end. Market-based GWP is given "
    "only where a contractual factor is declared; otherwise it is not available. Supplier "
    "figures apply only to the model version they describe. Self-hosted models can be "
    "measured with codecarbon instead; each window says whether RAPL, NVML or a TDP "
    "estimate produced its energy."
)

FUNCTIONAL_UNIT = "one chat/completions request: its input tokens and generated output tokens"


def methodology(
    zones: Iterable[str] = ("FRA", "SWE", "USA", "WOR"), measured: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Method id, factor-set version, zone mixes in use and the formula in words.

    `measured`, given when measured mode is on, is published as `measured_mode`: what is
    measured and how, and the gateway's own measured footprint per request."""
    ratio = prefill_ratio()
    factors = factor_set()
    band = factors["utilisation"]
    published = {
        "method_id": METHOD_ID,
        "factor_set_version": FACTOR_SET_VERSION,
        "factor_sets_kept": available_versions(),
        "functional_unit": FUNCTIONAL_UNIT,
        "lifecycle_phases": ["usage (electricity)", "embodied (GPU and server manufacturing)"],
        "criteria": {
            "energy_wh": "final energy at the data centre meter (Wh)",
            "gwp_g": "global warming potential, location-based (g CO2e)",
            "gwp_market_g": "market-based GWP where a contractual factor is declared, else null (not available)",
            "water_ml": "water consumption (not withdrawal): on-site cooling (WUE) and off-site electricity generation (mL)",
            "adpe_kgsbeq": "abiotic resource depletion, elements (kg Sb eq)",
            "pe_mj": "primary energy (MJ)",
        },
        "formula": FORMULA,
        "prefill": {"ratio": {"min": ratio.min, "value": ratio.value, "max": ratio.max}, "source": ratio.source},
        "uncertainty": {
            "rule": COMBINATION_RULE,
            "reservation_bound": RESERVATION_RULE,
            "batch_size": band["batch_size"],
            "batch_size_source": " ".join(band["source"].split()),
            "pue_band": factors["datacenter"]["pue_band"],
            "wue_band": factors["datacenter"]["wue_band"],
            "grid_gwp": factors["electricity"]["gwp_uncertainty"],
        },
        "zones": {zone: zone_mix(zone).as_dict() for zone in sorted(set(zones))},
        "document": "METHODOLOGY.md",
    }
    if measured is not None:
        published["measured_mode"] = measured
    return published
