"""Supplier figures apply only to the model version they describe, scaled per token, conflicts shown."""

import dataclasses

import pytest

from estimators.hosted import HostedEstimator
from estimators.impacts import ImpactProfile, Range, SupplierFactor
from estimators.supplier import supplier_factor_for

ESTIMATOR = HostedEstimator()
# Mistral Large 2 (123B dense) as the factor set's supplier entry describes it.
MISTRAL_LARGE_2 = ImpactProfile(
    provider="mistralai", ecologits_provider="mistralai", model_version="mistral-large-2407",
    total_params_b=Range.exact(123), active_params_b=Range.exact(123), zone="SWE",
)
# mistral-large-latest is another model (675B MoE, 41B active in EcoLogits' data).
MISTRAL_LARGE_LATEST = ImpactProfile(
    provider="mistralai", ecologits_provider="mistralai", ecologits_model="mistral-large-latest",
    model_version="mistral-large-latest", zone="SWE",
)


def test_supplier_figures_apply_to_the_model_version_they_describe():
    impacts = ESTIMATOR.estimate(MISTRAL_LARGE_2, 0, 400)
    assert impacts.source == "supplier-specific"
    assert impacts.gwp_g.value == pytest.approx(1.14)
    assert impacts.water_ml.value == pytest.approx(45)
    assert impacts.total.adpe_kgsbeq.value == pytest.approx(0.16e-6)
    assert impacts.extra["supplier"]["model_version"] == "mistral-large-2407"


def test_a_successor_model_shows_the_model_based_figure_only():
    impacts = ESTIMATOR.estimate(MISTRAL_LARGE_LATEST, 0, 400)
    assert impacts.source == "model-based"
    assert "supplier" not in impacts.extra
    assert supplier_factor_for(MISTRAL_LARGE_LATEST) is None


def test_a_catalogue_factor_for_another_version_is_not_applied():
    other = SupplierFactor(source="x", model_version="mistral-large-2407", reference_output_tokens=400, relative_uncertainty=0.5, gwp_g=1.14)
    profile = dataclasses.replace(MISTRAL_LARGE_LATEST, supplier=other)
    assert ESTIMATOR.estimate(profile, 0, 400).source == "model-based"


def test_scaling_rule_is_per_output_token_equivalent():
    half = ESTIMATOR.estimate(MISTRAL_LARGE_2, 0, 200)
    assert half.gwp_g.value == pytest.approx(0.57)
    with_prompt = ESTIMATOR.estimate(MISTRAL_LARGE_2, 1000, 400)
    assert with_prompt.extra["supplier"]["scale"] == pytest.approx((400 + 0.15 * 1000) / 400)
    assert "prefill ratio" in with_prompt.extra["supplier"]["scaling_rule"]


def test_model_based_energy_beside_supplier_gwp_shows_the_conflict():
    impacts = ESTIMATOR.estimate(MISTRAL_LARGE_2, 0, 400)
    conflict = impacts.extra["supplier"]["energy_conflict"]
    assert "energy_wh" in impacts.extra["supplier"]["criteria_from_model"]
    assert conflict["implied_gwp_kg_per_kwh"] > 2 * conflict["zone_gwp_kg_per_kwh"]
    assert "supplier-energy-conflict" in impacts.warning_codes


def test_model_based_estimate_stays_visible_beside_the_supplier_figure():
    impacts = ESTIMATOR.estimate(MISTRAL_LARGE_2, 0, 400)
    assert impacts.extra["model_based"]["source"] == "model-based"
    assert impacts.extra["model_based"]["total"]["gwp_g"]["value"] != pytest.approx(1.14)


def test_supplier_uncertainty_gives_the_range():
    impacts = ESTIMATOR.estimate(MISTRAL_LARGE_2, 0, 400)
    assert (impacts.gwp_g.min, impacts.gwp_g.max) == pytest.approx((0.57, 1.71))
    assert impacts.reservation_bound_gwp_ug() >= 1_710_000
