"""Supplier-specific figures first, model-based estimate kept visible."""

import pytest

from estimators.hosted import HostedEstimator
from estimators.impacts import ImpactProfile, SupplierFactor

# Mistral AI / Carbone 4 / ADEME LCA of Mistral Large 2 (July 2025), per 400-token response.
MISTRAL = SupplierFactor(
    source="Mistral AI LCA, July 2025", reference_output_tokens=400, relative_uncertainty=0.5,
    gwp_g=1.14, water_ml=45, adpe_kgsbeq=0.16e-6,
)
PROFILE = ImpactProfile(provider="mistralai", ecologits_provider="mistralai", ecologits_model="mistral-large-latest", zone="SWE", supplier=MISTRAL)


def test_record_uses_the_supplier_figure_for_a_reference_response():
    impacts = HostedEstimator().estimate(PROFILE, 0, 400)
    assert impacts.source == "supplier-specific"
    assert impacts.gwp_g.value == pytest.approx(1.14)
    assert impacts.water_ml.value == pytest.approx(45)
    assert impacts.total.adpe_kgsbeq.value == pytest.approx(0.16e-6)


def test_supplier_figure_scales_with_request_size():
    half = HostedEstimator().estimate(PROFILE, 0, 200)
    assert half.gwp_g.value == pytest.approx(0.57)


def test_model_based_estimate_stays_visible_beside_the_supplier_figure():
    impacts = HostedEstimator().estimate(PROFILE, 0, 400)
    assert impacts.extra["model_based"]["source"] == "model-based"
    assert impacts.extra["model_based"]["total"]["gwp_g"]["value"] != pytest.approx(1.14)
    assert impacts.extra["supplier"]["criteria_from_model"] == ["energy_wh", "pe_mj"]


def test_supplier_uncertainty_gives_the_range():
    impacts = HostedEstimator().estimate(PROFILE, 0, 400)
    assert (impacts.gwp_g.min, impacts.gwp_g.max) == pytest.approx((0.57, 1.71))


def test_catalogue_declares_the_mistral_large_supplier_factor():
    from gateway.catalogue import Catalogue

    spec = Catalogue.load(env={}).get("mistral-large")
    assert spec.impact.supplier is not None and spec.impact.supplier.gwp_g == 1.14
