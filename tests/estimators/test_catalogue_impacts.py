"""What the catalogue declares reaches the estimator; what it cannot honestly declare is refused at load."""

import copy

import pytest
import yaml

from estimators.hosted import HostedEstimator
from gateway.providers.catalogue import DEFAULT_CATALOGUE, Catalogue
from gateway.ledger.records import impact_columns

ESTIMATOR = HostedEstimator()


def shipped() -> dict:
    return yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))


def with_impact(**changes) -> dict:
    data = copy.deepcopy(shipped())
    data["models"][0]["impact"].update(changes)
    return data


@pytest.mark.parametrize("zone", ["fra", "FR", "XYZ", "France"])
def test_an_unknown_zone_refuses_to_load_naming_it(zone):
    with pytest.raises(ValueError, match=repr(zone)):
        Catalogue.from_dict(with_impact(zone=zone), env={})


@pytest.mark.parametrize(
    "changes",
    [
        {"pue": [1.6, 1.2]},
        {"pue": 0.9},
        {"wue_l_per_kwh": float("nan")},
        {"total_params_b": -3},
        {"active_params_b": [float("inf"), 10]},
        {"quantisation_bits": 0},
        {"gpu_count": 0},
        {"gpu_type": "TPU-v9"},
        {"market_gwp_kg_per_kwh": 0.02},
        {"market_source": "a PPA"},
        {"market_gwp_kg_per_kwh": float("nan"), "market_source": "x"},
    ],
)
def test_impossible_declarations_refuse_to_load(changes):
    with pytest.raises(ValueError):
        Catalogue.from_dict(with_impact(**changes), env={})


def test_a_supplier_factor_for_another_model_version_refuses_to_load():
    supplier = {"source": "Mistral AI LCA, July 2025", "model_version": "mistral-large-2407",
                "reference_output_tokens": 400, "relative_uncertainty": 0.5, "gwp_g": 1.14}
    with pytest.raises(ValueError, match="mistral-large-2407"):
        Catalogue.from_dict(with_impact(supplier=supplier), env={})


def test_shipped_catalogue_declares_no_market_factor_so_market_based_is_not_available():
    for spec in Catalogue.load(env={}).all():
        impacts = ESTIMATOR.estimate(spec.impact, 200, 400)
        assert impacts.gwp_market_g is None and impacts.extra["gwp_market_g"] is None, spec.name
        assert impacts.extra["market_based"]["available"] is False
        assert impact_columns(impacts)["gwp_market_ug"] is None


def test_a_declared_market_factor_with_its_source_gives_a_market_based_figure():
    data = with_impact(market_gwp_kg_per_kwh=0.0, market_source="guarantees of origin, hydro, 2026 (contract 42)")
    spec = Catalogue.from_dict(data, env={}).all()[0]
    impacts = ESTIMATOR.estimate(spec.impact, 200, 400)
    assert impacts.gwp_market_g is not None
    assert impacts.gwp_market_g.value == pytest.approx(impacts.embodied.gwp_g.value)
    assert impacts.extra["market_based"]["source"].startswith("guarantees of origin")
    assert impact_columns(impacts)["gwp_market_ug"] == round(impacts.embodied.gwp_g.value * 1e6)
    assert impacts.gwp_g.value > impacts.gwp_market_g.value


def test_shipped_mistral_large_latest_carries_no_mistral_large_2_figures():
    spec = Catalogue.load(env={}).get("mistral-large")
    assert spec.impact.supplier is None and spec.impact.model_version == "mistral-large-latest"
    assert ESTIMATOR.estimate(spec.impact, 0, 400).source == "model-based"


def test_self_hosted_declarations_are_what_the_estimate_uses():
    spec = Catalogue.load(env={}).get("local-llama")
    resolved = ESTIMATOR.estimate(spec.impact, 200, 400).extra["inputs"]["resolved"]
    assert resolved["gpu_count"] == 1 and resolved["quantisation_bits"]["central"] == 16
    assert (resolved["pue"]["low"], resolved["pue"]["high"]) == (1.3, 1.8)


def test_rows_record_the_catalogue_version_and_restatement_inputs():
    catalogue = Catalogue.load(env={})
    columns = impact_columns(ESTIMATOR.estimate(catalogue.get("gpt-4o").impact, -5, 400))
    assert columns["catalogue_version"] == catalogue.version
    assert columns["factor_set_version"] == "sobria-factors-2026.2"
    assert columns["impact_inputs"]["profile"]["ecologits_model"] == "gpt-4o"
    assert columns["impact_inputs"]["input_tokens"] == 0
    assert "input-tokens-negative-clamped" in columns["impact_warnings"]
    assert "inputs" not in columns["impacts_detail"]


def test_a_factor_set_market_factor_applies_to_its_supplier_and_zone_only():
    import uuid

    import yaml

    from estimators import factors
    from estimators.factors import DATA_DIR
    from estimators.hosted import HostedEstimator

    version = f"sobria-factors-2099.{uuid.uuid4().hex[:12]}"
    data = yaml.safe_load((DATA_DIR / f"{factors.CURRENT_VERSION}.yaml").read_text(encoding="utf-8"))
    data["version"] = version
    data["market_based"] = [{"supplier": "openai", "zone": "USA", "gwp_kg_per_kwh": 0.2, "instrument": "residual mix",
                             "source": "AIB-style residual mix, test figure", "year": 2025}]
    path = DATA_DIR / f"{version}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    try:
        estimator = HostedEstimator(version)
        catalogue = Catalogue.load(env={})
        covered = estimator.estimate(catalogue.get("gpt-4o").impact, 200, 400)
        assert covered.gwp_market_g is not None
        assert covered.gwp_market_g.value == pytest.approx(
            covered.usage.energy_wh.value * 0.2 + covered.embodied.gwp_g.value)
        assert covered.extra["market_based"]["source"] == "residual mix: AIB-style residual mix, test figure (2025)"
        other_zone = estimator.estimate(catalogue.get("mistral-small").impact, 200, 400)
        assert other_zone.gwp_market_g is None and other_zone.extra["market_based"]["available"] is False
    finally:
        path.unlink()
        factors.load_factor_set.cache_clear()
