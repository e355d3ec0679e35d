"""HostedEstimator: EcoLogits underneath, the stated uncertainty model on top, validated inputs."""

import math

import pytest
from ecologits.impacts.llm import compute_llm_impacts_dag
from ecologits.tracers.utils import llm_impacts

from estimators.hosted import DAG_FACTORS, METHOD_ID, HostedEstimator, combine
from estimators.impacts import ImpactProfile, Range
from estimators.mixes import UnknownZone, zone_mix
from tests.estimators.test_supplier import MISTRAL_LARGE_2

ESTIMATOR = HostedEstimator()
CASES = [
    ("mistralai", "mistral-large-latest", "SWE"),
    ("mistralai", "mistral-medium-latest", "SWE"),
    ("mistralai", "mistral-small-latest", "SWE"),
    ("openai", "gpt-4o", "USA"),
    ("openai", "gpt-4o-mini", "USA"),
    ("huggingface_hub", "meta-llama/Meta-Llama-3.1-8B-Instruct", "USA"),
]
# Models whose parameter count EcoLogits knows (published architecture): the width target applies.
KNOWN_PARAMETERS = [
    ("mistralai", "mistral-small-latest", "SWE"),
    ("mistralai", "mistral-large-latest", "SWE"),
    ("huggingface_hub", "meta-llama/Meta-Llama-3.1-8B-Instruct", "FRA"),
    ("huggingface_hub", "meta-llama/Meta-Llama-3.1-70B-Instruct", "FRA"),
]
CRITERIA = ("energy_wh", "gwp_g", "water_ml", "adpe_kgsbeq", "pe_mj")


def profile(provider: str, model: str, zone: str, **kwargs) -> ImpactProfile:
    return ImpactProfile(provider=provider, ecologits_provider=provider, ecologits_model=model, zone=zone, **kwargs)


def bounds(value):
    return (value.min, value.max) if hasattr(value, "min") else (value, value)


@pytest.mark.parametrize("provider,model,zone", CASES)
@pytest.mark.parametrize("output_tokens,latency", [(1, None), (400, None), (2000, None), (400, 3.0)])
def test_ecologits_own_figures_are_reproduced_for_audit(provider, model, zone, output_tokens, latency):
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
def test_central_value_is_ecologits_at_the_central_inputs(provider, model, zone):
    impacts = ESTIMATOR.estimate(profile(provider, model, zone), 0, 400)
    ref = llm_impacts(provider, model, 400, math.inf, zone)
    low, high = bounds(ref.energy.value)
    # EcoLogits' own range lies on both sides of (or on) the central value, inside Sobria's range.
    assert impacts.energy_wh.min <= low * 1000 * (1 + 1e-9)
    assert high * 1000 <= impacts.energy_wh.max * (1 + 1e-9)
    assert low * 1000 * (1 - 1e-9) <= impacts.energy_wh.value <= high * 1000 * (1 + 1e-9)


@pytest.mark.parametrize("provider,model,zone", KNOWN_PARAMETERS)
def test_energy_range_is_within_4x_for_a_model_of_known_size(provider, model, zone):
    impacts = ESTIMATOR.estimate(profile(provider, model, zone), 200, 400)
    assert impacts.energy_wh.max / impacts.energy_wh.min <= 4.0


@pytest.mark.parametrize("provider,model,zone", CASES)
@pytest.mark.parametrize("input_tokens", [200, 20_000])
def test_central_value_is_plausible_on_both_sides(provider, model, zone, input_tokens):
    """Neither side collapses onto the value, and neither is an order of magnitude away."""
    e = ESTIMATOR.estimate(profile(provider, model, zone), input_tokens, 400).energy_wh
    assert 1.1 < e.value / e.min < 5
    assert 1.1 < e.max / e.value < 5


def test_budgets_reserve_on_the_interval_corner_which_is_at_least_the_displayed_max():
    impacts = ESTIMATOR.estimate(profile("openai", "gpt-4o", "USA"), 2000, 4000)
    assert impacts.reservation_gwp_g is not None and impacts.reservation_gwp_g > impacts.gwp_g.max
    assert impacts.reservation_bound_gwp_ug() >= math.ceil(impacts.gwp_g.max * 1e6)
    assert impacts.extra["reservation_bound"]["rule"].startswith("interval arithmetic")


def test_combination_rule_is_root_sum_square_of_log_ratios():
    low, high = combine(1.0, [0.5, 1.0], [2.0, 2.0])
    assert low == pytest.approx(0.5)
    assert high == pytest.approx(math.exp(math.sqrt(2 * math.log(2) ** 2)))


def test_each_named_input_is_reported_with_its_effect_on_energy():
    note = ESTIMATOR.estimate(profile("openai", "gpt-4o", "USA"), 200, 400).extra["uncertainty"]
    assert set(note["energy_ratio_by_input"]) == {*DAG_FACTORS, "prefill"}
    assert note["energy_ratio_by_input"]["utilisation"]["high"] > 1 > note["energy_ratio_by_input"]["utilisation"]["low"]
    assert note["energy_ratio_by_input"]["wue"] == {"low": pytest.approx(1.0), "high": pytest.approx(1.0)}


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


@pytest.mark.parametrize("provider,model,zone", CASES + [("openai", "no-such-model", "WOR")])
@pytest.mark.parametrize("input_tokens,output_tokens,latency", [(0, 0, None), (200, 400, None), (20000, 50, 0.5)])
def test_every_range_is_ordered(provider, model, zone, input_tokens, output_tokens, latency):
    impacts = ESTIMATOR.estimate(profile(provider, model, zone), input_tokens, output_tokens, latency)
    for phase in (impacts.usage, impacts.embodied, impacts.total):
        for name in CRITERIA:
            r = getattr(phase, name)
            assert r.min <= r.value <= r.max, name


@pytest.mark.parametrize(
    "input_tokens,output_tokens,latency,code",
    [
        (-50, 400, None, "input-tokens-negative-clamped"),
        (200, -1, None, "output-tokens-negative-clamped"),
        (float("nan"), 400, None, "input-tokens-invalid-clamped"),
        (200, float("inf"), None, "output-tokens-invalid-clamped"),
        ("12abc", 400, None, "input-tokens-invalid-clamped"),
        (200, 10**12, None, "output-tokens-over-limit-clamped"),
        (200, 400, float("nan"), "latency-invalid-ignored"),
        (200, 400, -3.0, "latency-invalid-ignored"),
        (200, 400, float("inf"), "latency-invalid-ignored"),
    ],
)
def test_impossible_inputs_are_clamped_with_a_warning_code_never_nan(input_tokens, output_tokens, latency, code):
    impacts = ESTIMATOR.estimate(profile("openai", "gpt-4o", "USA"), input_tokens, output_tokens, latency)
    assert code in impacts.warning_codes
    for phase in (impacts.usage, impacts.embodied, impacts.total):
        for name in CRITERIA:
            r = getattr(phase, name)
            assert all(math.isfinite(x) for x in (r.min, r.value, r.max)) and r.min <= r.value <= r.max


def test_negative_tokens_count_as_none_rather_than_inverting_the_range():
    clamped = ESTIMATOR.estimate(profile("openai", "gpt-4o", "USA"), -10_000, 400)
    assert clamped.energy_wh == ESTIMATOR.estimate(profile("openai", "gpt-4o", "USA"), 0, 400).energy_wh


def test_a_range_refuses_nan_and_inversion():
    with pytest.raises(ValueError):
        Range(float("nan"), 0.0, 1.0)
    with pytest.raises(ValueError):
        Range(1.0, 2.0, 0.5)


def test_unknown_model_gets_a_flagged_nonzero_range():
    impacts = ESTIMATOR.estimate(profile("acme", "mystery-1", "FRA"), 100, 400)
    assert impacts.energy_wh.min > 0
    assert impacts.energy_wh.max > 10 * impacts.energy_wh.min
    assert "model-unknown" in impacts.warning_codes


def test_catalogue_parameters_take_precedence_over_ecologits():
    small = ESTIMATOR.estimate(profile("openai", "gpt-4o", "USA", active_params_b=Range.exact(8), total_params_b=Range.exact(8)), 0, 400)
    default = ESTIMATOR.estimate(profile("openai", "gpt-4o", "USA"), 0, 400)
    assert small.energy_wh.value < default.energy_wh.value


@pytest.mark.parametrize("zone", ["XYZ", "fra", "FR", ""])
def test_unknown_zone_is_refused_naming_it(zone):
    with pytest.raises(UnknownZone, match=repr(zone)):
        ESTIMATOR.estimate(profile("openai", "gpt-4o", zone), 0, 400)


def test_record_is_tagged_with_method_and_factor_set():
    impacts = ESTIMATOR.estimate(profile("openai", "gpt-4o", "USA"), 0, 400)
    assert impacts.method_id == METHOD_ID and "ecologits-0.11.3" in METHOD_ID
    assert impacts.factor_set_version == "sobria-factors-2026.2"
    assert impacts.source == "model-based"


# Llama 3.1 405B Instruct FP8 on one 8 x H100 node: EcoLogits alone assumes 16-bit weights, i.e.
# 1.2 x 405.87 x 2 = 974 GB -> 13 -> 16 GPUs; declared FP8 on 8 GPUs it is half the GPUs.
LLAMA_405B_FP8 = {
    "provider": "self-hosted", "ecologits_provider": "huggingface_hub",
    "ecologits_model": "meta-llama/Meta-Llama-3.1-405B-Instruct-FP8", "zone": "FRA",
}


def test_declared_fp8_weights_and_gpu_count_are_what_the_estimate_uses():
    declared = ESTIMATOR.estimate(ImpactProfile(**LLAMA_405B_FP8, quantisation_bits=8, gpu_type="H100-80GB", gpu_count=8), 0, 400)
    resolved = declared.extra["inputs"]["resolved"]
    assert resolved["gpu_count"] == 8 and resolved["quantisation_bits"]["central"] == 8
    at_16_bits = ESTIMATOR.estimate(ImpactProfile(**LLAMA_405B_FP8, quantisation_bits=16), 0, 400)
    assert declared.energy_wh.value < 0.6 * at_16_bits.energy_wh.value


def test_declared_fp8_without_gpu_count_derives_eight_gpus_like_ecologits_would():
    by_bits = ESTIMATOR.estimate(ImpactProfile(**LLAMA_405B_FP8, quantisation_bits=8), 0, 400)
    by_count = ESTIMATOR.estimate(ImpactProfile(**LLAMA_405B_FP8, quantisation_bits=8, gpu_count=8), 0, 400)
    assert by_bits.energy_wh.value == pytest.approx(by_count.energy_wh.value, rel=1e-9)
    mix = zone_mix("FRA")
    ref = compute_llm_impacts_dag(
        model_active_parameter_count=405.87, model_total_parameter_count=405.87, output_token_count=400,
        request_latency=math.inf, if_electricity_mix_adpe=mix.adpe_kgsbeq_per_kwh, if_electricity_mix_pe=mix.pe_mj_per_kwh,
        if_electricity_mix_gwp=mix.gwp_kg_per_kwh, if_electricity_mix_wue=mix.wue_l_per_kwh,
        datacenter_pue=1.115, datacenter_wue=0.56, model_quantization_bits=8,
    )
    assert ref["gpu_required_count"] == 8
    assert by_bits.energy_wh.value == pytest.approx(float(ref["request_energy"]) * 1000, rel=1e-9)


def test_a_gpu_type_other_than_h100_class_is_flagged():
    impacts = ESTIMATOR.estimate(ImpactProfile(**LLAMA_405B_FP8, gpu_type="A100-40GB", quantisation_bits=8), 0, 400)
    assert "gpu-energy-regression-proxy" in impacts.warning_codes
    assert impacts.extra["inputs"]["resolved"]["gpu_memory_gb"] == 40


def test_declared_self_hosted_pue_range_is_used():
    base = {"provider": "self-hosted", "ecologits_provider": "huggingface_hub", "ecologits_model": "meta-llama/Meta-Llama-3.1-8B-Instruct", "zone": "FRA"}
    room = ESTIMATOR.estimate(ImpactProfile(**base, pue=Range.between(1.3, 1.8)), 0, 400)
    hyperscale = ESTIMATOR.estimate(ImpactProfile(**base), 0, 400)
    assert room.extra["inputs"]["resolved"]["pue"]["central"] == pytest.approx(1.55)
    assert room.energy_wh.value / hyperscale.energy_wh.value == pytest.approx(1.55 / 1.115, rel=1e-6)


RESERVED_TOKENS = [(0, 0), (1, 1), (1_000, 500), (123_456, 4_096), (5, 100_000), (-5, 3), (float("nan"), 2)]


@pytest.mark.parametrize("tokens", RESERVED_TOKENS)
def test_reservation_bounds_are_what_the_full_estimate_reserves(tokens):
    """One combined pass over every deployment a request may reach gives each the CO2e bound
    and the energy max of its own full estimate (a supplier profile included)."""
    profiles = [profile(*case) for case in CASES] + [MISTRAL_LARGE_2]
    bounds = ESTIMATOR.reservation_bounds([(p, *tokens) for p in profiles])
    assert len(bounds) == len(profiles)
    for p, bound in zip(profiles, bounds, strict=True):
        full = ESTIMATOR.estimate(p, *tokens)
        assert bound.gwp_ug == full.reservation_bound_gwp_ug()
        assert bound.energy_wh == pytest.approx(full.energy_wh.max, rel=1e-12, abs=0.0)
    assert ESTIMATOR.reservation_bounds([]) == []
