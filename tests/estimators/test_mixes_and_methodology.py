"""Zone mixes from one source per zone, zone validation, and the published method."""

import pytest
from ecologits.electricity_mix_repository import electricity_mixes

from estimators.factors import UnknownFactorSet, available_versions, load_factor_set
from estimators.methodology import methodology
from estimators.mixes import UnknownZone, zone_mix


@pytest.mark.parametrize("zone", ["FRA", "SWE", "USA", "WOR"])
def test_every_criterion_of_a_zone_comes_from_one_source(zone):
    mix, ref = zone_mix(zone), electricity_mixes.find_electricity_mix(zone)
    assert (mix.gwp_kg_per_kwh, mix.wue_l_per_kwh, mix.adpe_kgsbeq_per_kwh, mix.pe_mj_per_kwh) == (ref.gwp, ref.wue, ref.adpe, ref.pe)
    assert "EcoLogits 0.11.3" in mix.source and mix.release


def test_france_no_longer_mixes_ademe_gwp_with_ecologits_water():
    assert "ADEME Base Empreinte" not in zone_mix("FRA").source
    assert zone_mix("FRA").gwp_kg_per_kwh == electricity_mixes.find_electricity_mix("FRA").gwp


@pytest.mark.parametrize("zone", ["fra", "FR", "France", "XYZ"])
def test_unknown_zone_is_refused_naming_it(zone):
    with pytest.raises(UnknownZone, match=repr(zone)):
        zone_mix(zone)


def test_a_lower_case_zone_gets_a_hint():
    with pytest.raises(UnknownZone, match="did you mean 'FRA'"):
        zone_mix("fra")


def test_factor_sets_are_kept_versioned_in_the_package():
    assert {"sobria-factors-2026.1", "sobria-factors-2026.2"} <= set(available_versions())
    current = load_factor_set()
    assert current["version"] == "sobria-factors-2026.2" and current["electricity"]["release"]


def test_a_factor_set_of_the_previous_method_is_refused_with_a_reason():
    with pytest.raises(UnknownFactorSet, match="earlier method"):
        load_factor_set("sobria-factors-2026.1")
    with pytest.raises(UnknownFactorSet, match="no factor set"):
        load_factor_set("sobria-factors-1999.9")


def test_methodology_names_method_factor_set_rule_and_formula():
    doc = methodology(["FRA", "USA"])
    assert doc["method_id"].startswith("ecologits-0.11.3")
    assert doc["factor_set_version"] == "sobria-factors-2026.2"
    assert "sobria-factors-2026.1" in doc["factor_sets_kept"]
    assert set(doc["zones"]) == {"FRA", "USA"}
    assert "root-sum-square" in doc["uncertainty"]["rule"]
    assert "prefill" in doc["formula"] and "EcoLogits" in doc["formula"]
    assert "consumption" in doc["criteria"]["water_ml"]
