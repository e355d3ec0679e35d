"""Zone mixes from the versioned factor set, and the published method."""

from estimators.methodology import methodology
from estimators.mixes import zone_mix


def test_france_uses_the_ademe_location_based_factor():
    fra = zone_mix("FRA")
    assert fra.gwp_kg_per_kwh == 0.052
    assert "ADEME" in fra.source


def test_other_zones_use_ecologits_mixes():
    from ecologits.electricity_mix_repository import electricity_mixes

    assert zone_mix("USA").gwp_kg_per_kwh == electricity_mixes.find_electricity_mix("USA").gwp


def test_methodology_names_method_factor_set_zones_and_formula():
    doc = methodology(["FRA", "USA"])
    assert doc["method_id"].startswith("ecologits-0.11.3")
    assert doc["factor_set_version"].startswith("sobria-factors-")
    assert set(doc["zones"]) == {"FRA", "USA"}
    assert "prefill" in doc["formula"] and "EcoLogits" in doc["formula"]
