"""Sanity against providers' published per-request figures: each lies within our [min, max]."""

import pytest

from estimators.hosted import HostedEstimator
from estimators.impacts import ImpactProfile, Range

ESTIMATOR = HostedEstimator()

# Mistral AI, "Our contribution to a global environmental standard for AI" (22 July 2025),
# LCA of Mistral Large 2 with Carbone 4 and ADEME, location-based: marginal impact of a
# 400-token Le Chat response = 1.14 gCO2e, 45 mL water, 0.16 mg Sb eq.
# Comparable request: 123B dense model (Mistral Large 2), 400 output tokens, short prompt,
# Mistral's data centres as EcoLogits places them (SWE), model-based (no supplier factor).
MISTRAL_LARGE_2 = ImpactProfile(
    provider="mistralai",
    ecologits_provider="mistralai",
    total_params_b=Range.exact(123),
    active_params_b=Range.exact(123),
    zone="SWE",
)

# Google, "Measuring the environmental impact of delivering AI at Google scale" (Aug. 2025):
# median Gemini Apps text prompt = 0.24 Wh, 0.03 gCO2e (market-based), 0.26 mL (on-site water only).
# Token counts are not disclosed; comparable request assumed: short prompt, 100 in / 100 out,
# gemini-2.5-flash in EcoLogits, US grid. Market factor: Google's 66 % hourly carbon-free
# energy in 2024 (2025 Environmental Report) applied to the US mix, i.e. 0.34 x location factor.
GEMINI = ImpactProfile(
    provider="google",
    ecologits_provider="google_genai",
    ecologits_model="gemini-2.5-flash",
    zone="USA",
    market_gwp_kg_per_kwh=0.34 * 0.3844,
)


@pytest.fixture(scope="module")
def mistral():
    return ESTIMATOR.estimate(MISTRAL_LARGE_2, 100, 400)


@pytest.fixture(scope="module")
def gemini():
    return ESTIMATOR.estimate(GEMINI, 100, 100)


def test_mistral_large_2_published_gwp_lies_within_the_estimate(mistral):
    assert mistral.gwp_g.min <= 1.14 <= mistral.gwp_g.max


def test_mistral_large_2_published_water_lies_within_the_estimate(mistral):
    assert mistral.water_ml.min <= 45 <= mistral.water_ml.max


def test_mistral_large_2_published_adpe_exceeds_the_model_based_upper_bound(mistral):
    # Known limit, documented in METHODOLOGY.md: EcoLogits 0.11.3's embodied ADPe covers GPUs
    # and servers only; Mistral's LCA also counts the data centre and network. Hence the supplier
    # factor declared for mistral-large in the catalogue.
    assert mistral.total.adpe_kgsbeq.max < 0.16e-6


def test_gemini_published_energy_lies_within_the_estimate(gemini):
    assert gemini.energy_wh.min <= 0.24 <= gemini.energy_wh.max


def test_gemini_published_market_based_gwp_lies_within_the_market_based_estimate(gemini):
    market = gemini.extra["gwp_market_g"]
    assert market["min"] <= 0.03 <= market["max"]


def test_gemini_published_onsite_water_lies_within_the_onsite_estimate(gemini):
    onsite = gemini.extra["water_onsite_ml"]
    assert onsite["min"] <= 0.26 <= onsite["max"]
