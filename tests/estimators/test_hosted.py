"""HostedEstimator against EcoLogits itself, and its invariants."""

import math

import pytest
from ecologits.tracers.utils import llm_impacts

from estimators.hosted import METHOD_ID, HostedEstimator
from estimators.impacts import ImpactProfile, Range
from estimators.mixes import zone_mix

ESTIMATOR = HostedEstimator()
CASES = [
    ("mistralai", "mistral-large-latest", "SWE"),
    ("mistralai", "mistral-medium-latest", "SWE"),
    ("openai", "gpt-4o", "USA"),
    ("openai", "gpt-4o-mini", "USA"),
    ("huggingface_hub", "meta-llama/Meta-Llama-3.1-8B-Instruct", "USA"),
]


def profile(provider: str, model: str, zone: str, **kwargs) -> ImpactProfile:
    return ImpactProfile(provider=provider, ecologits_provider=provider, ecologits_model=model, zone=zone, **kwargs)


def bounds(value):
    return (value.min, value.max) if hasattr(value, "min") else (value, value)


@pytest.mark.parametrize("provider,model,zone", CASES)
@pytest.mark.parametrize("output_tokens,latency", [(1, None), (400, None), (2000, None), (400, 3.0)])
def test_output_only_figures_equal_ecologits(provider, model, zone, output_tokens, latency):
    ours = ESTIMATOR.estimate(profile(provider, model, zone), 0, output_tokens, latency).extra["ecologits"]
    ref = llm_impacts(provider, model, output_tokens, latency or math.inf, zone)
    assert (ours["energy_wh"]["min"], ours["energy_wh"]["max"]) == pytest.approx(
        [x * 1000 for x in bounds(ref.energy.value)], rel=1e-9
    )
    assert (ours["gwp_g"]["min"], ours["gwp_g"]["max"]) == pytest.approx([x * 1000 for x in bounds(ref.gwp.value)], rel=1e-9)
    assert (ours["water_ml"]["min"], ours["water_ml"]["max"]) == pytest.approx(
        [x * 1000 for x in bounds(ref.wcf.value)], rel=1e-9
    )


@pytest.mark.parametrize("provider,model,zone", CASES)
def test_lower_bound_without_prompt_is_ecologits_lower_bound(provider, model, zone):
    ours = ESTIMATOR.estimate(profile(provider, model, zone), 0, 400)
    ref = llm_impacts(provider, model, 400, math.inf, zone)
    assert ours.energy_wh.min == pytest.approx(bounds(ref.energy.value)[0] * 1000, rel=1e-9)
    assert ours.total.adpe_kgsbeq.min == pytest.approx(bounds(ref.adpe.value)[0], rel=1e-9)
    assert ours.total.pe_mj.min == pytest.approx(bounds(ref.pe.value)[0], rel=1e-9)


def test_zone_change_moves_usage_gwp_by_the_ratio_of_the_mixes():
    fra = ESTIMATOR.estimate(profile("openai", "gpt-4o", "FRA"), 300, 400)
    usa = ESTIMATOR.estimate(profile("openai", "gpt-4o", "USA"), 300, 400)
    ratio = zone_mix("USA").gwp_kg_per_kwh / zone_mix("FRA").gwp_kg_per_kwh
    assert usa.usage.gwp_g.value / fra.usage.gwp_g.value == pytest.approx(ratio, rel=1e-9)
    assert usa.embodied.gwp_g.value == pytest.approx(fra.embodied.gwp_g.value, rel=1e-9)


@pytest.mark.parametrize("provider,model,zone", CASES)
def test_water_and_embodied_are_never_zero_for_a_hosted_model(provider, model, zone):
    impacts = ESTIMATOR.estimate(profile(provider, model, zone), 10, 1)
    assert impacts.water_ml.min > 0
    assert impacts.embodied.gwp_g.min > 0
    assert impacts.embodied.adpe_kgsbeq.min > 0
    assert impacts.embodied.pe_mj.min > 0


@pytest.mark.parametrize("provider,model,zone", CASES + [("openai", "no-such-model", "XYZ")])
@pytest.mark.parametrize("input_tokens,output_tokens,latency", [(0, 0, None), (200, 400, None), (20000, 50, 0.5)])
def test_every_range_is_ordered(provider, model, zone, input_tokens, output_tokens, latency):
    impacts = ESTIMATOR.estimate(profile(provider, model, zone), input_tokens, output_tokens, latency)
    for phase in (impacts.usage, impacts.embodied, impacts.total):
        for name, r in vars_of(phase).items():
            assert r.min <= r.value <= r.max, name


def vars_of(criteria):
    return {name: getattr(criteria, name) for name in ("energy_wh", "gwp_g", "water_ml", "adpe_kgsbeq", "pe_mj")}


def test_unknown_model_gets_a_flagged_nonzero_range():
    impacts = ESTIMATOR.estimate(profile("acme", "mystery-1", "FRA"), 100, 400)
    assert impacts.energy_wh.min > 0
    assert impacts.energy_wh.max > 10 * impacts.energy_wh.min
    assert any(w.startswith("model-unknown") for w in impacts.warnings)


def test_catalogue_parameters_take_precedence_over_ecologits():
    small = ESTIMATOR.estimate(profile("openai", "gpt-4o", "USA", active_params_b=Range.exact(8), total_params_b=Range.exact(8)), 0, 400)
    default = ESTIMATOR.estimate(profile("openai", "gpt-4o", "USA"), 0, 400)
    assert small.energy_wh.value < default.energy_wh.value


def test_unknown_zone_falls_back_to_world_average_with_a_warning():
    impacts = ESTIMATOR.estimate(profile("openai", "gpt-4o", "XYZ"), 0, 400)
    assert impacts.zone == "WOR"
    assert any("XYZ" in w for w in impacts.warnings)


def test_record_is_tagged_with_method_and_factor_set():
    impacts = ESTIMATOR.estimate(profile("openai", "gpt-4o", "USA"), 0, 400)
    assert impacts.method_id == METHOD_ID and "ecologits-0.11.3" in METHOD_ID
    assert impacts.factor_set_version.startswith("sobria-factors-")
    assert impacts.source == "model-based"


def test_market_based_gwp_is_reported_beside_location_based_when_declared():
    declared = ESTIMATOR.estimate(profile("openai", "gpt-4o", "USA", market_gwp_kg_per_kwh=0.0), 0, 400)
    undeclared = ESTIMATOR.estimate(profile("openai", "gpt-4o", "USA"), 0, 400)
    assert declared.extra["gwp_market_g"]["value"] == pytest.approx(declared.embodied.gwp_g.value)
    assert declared.gwp_g == undeclared.gwp_g
    assert "gwp_market_g" not in undeclared.extra
