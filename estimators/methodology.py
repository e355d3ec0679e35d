"""The published method: what `GET /v1/impacts/methodology` returns.

Built from the same data the estimators use (factor set, EcoLogits version, zone
mixes), so the description cannot drift from the computation.
"""

from __future__ import annotations

from typing import Any, Iterable

from estimators.factors import factor_set
from estimators.hosted import FACTOR_SET_VERSION, METHOD_ID
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
    "(prefill ratio). The value is EcoLogits' central estimate; min uses the smaller model "
    "bound and the low prefill ratio; max uses the larger model bound, the high prefill ratio "
    "and a server handling one request at a time. Where a supplier publishes its own "
    "per-request figures, they come first and the model-based estimate is shown beside them. "
    "Self-hosted models can be measured with codecarbon instead, energy being shared among "
    "the requests of each measurement window by their token share."
)

FUNCTIONAL_UNIT = "one chat/completions request: its input tokens and generated output tokens"


def methodology(
    zones: Iterable[str] = ("FRA", "SWE", "USA", "WOR"), measured: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Method id, factor-set version, zone mixes in use and the formula in words.

    `measured`, given when measured mode is on, is published as `measured_mode`: what is
    measured and how, and the gateway's own measured footprint per request."""
    ratio = prefill_ratio()
    band = factor_set()["utilisation"]
    published = {
        "method_id": METHOD_ID,
        "factor_set_version": FACTOR_SET_VERSION,
        "functional_unit": FUNCTIONAL_UNIT,
        "lifecycle_phases": ["usage (electricity)", "embodied (GPU and server manufacturing)"],
        "criteria": {
            "energy_wh": "final energy at the data centre meter (Wh)",
            "gwp_g": "global warming potential, location-based (g CO2e)",
            "water_ml": "water consumption: data-centre cooling and electricity generation (mL)",
            "adpe_kgsbeq": "abiotic resource depletion, elements (kg Sb eq)",
            "pe_mj": "primary energy (MJ)",
        },
        "formula": FORMULA,
        "prefill": {"ratio": {"min": ratio.min, "value": ratio.value, "max": ratio.max}, "source": ratio.source},
        "utilisation": {
            "batch_size_nominal": band["batch_size_nominal"],
            "batch_size_low": band["batch_size_low"],
            "source": band["source"].strip(),
        },
        "zones": {zone: zone_mix(zone).as_dict() for zone in sorted(set(zones))},
        "document": "METHODOLOGY.md",
    }
    if measured is not None:
        published["measured_mode"] = measured
    return published
