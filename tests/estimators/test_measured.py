"""Measured mode: codecarbon offline windows, energy shared by token share."""

import pytest

from estimators.hosted import HostedEstimator
from estimators.impacts import ImpactProfile
from estimators.measured import (
    TDP_ESTIMATE,
    GatewayFootprint,
    WindowMeter,
    attribute_by_tokens,
    measured_impacts,
)


def test_energy_is_shared_in_proportion_to_tokens():
    shares = attribute_by_tokens(10.0, {"a": 100, "b": 300})
    assert shares == pytest.approx({"a": 2.5, "b": 7.5})


def test_window_without_tokens_shares_equally():
    assert attribute_by_tokens(4.0, {"a": 0, "b": 0}) == pytest.approx({"a": 2.0, "b": 2.0})


def test_codecarbon_offline_window_attributes_its_measured_total(tmp_path):
    meter = WindowMeter(country_iso_code="FRA", output_dir=str(tmp_path))
    meter.start()
    for i, tokens in enumerate([120, 480, 1400]):
        sum(j * j for j in range(200_000))
        meter.record(f"req-{i}", tokens)
    result = meter.close()
    assert result.energy_wh > 0
    assert sum(result.shares_wh.values()) == pytest.approx(result.energy_wh)
    assert result.shares_wh["req-1"] == pytest.approx(4 * result.shares_wh["req-0"])
    assert list(tmp_path.iterdir()) == []
    meter_read = {"RAPL", "NVML"} & set(result.energy_source.split("+"))
    assert result.measured == bool(meter_read)
    assert result.energy_source == TDP_ESTIMATE or meter_read


def test_window_label_says_what_codecarbon_read_on_this_machine(tmp_path):
    from codecarbon.core.cpu import is_rapl_available

    meter = WindowMeter(country_iso_code="FRA", output_dir=str(tmp_path))
    meter.start()
    sum(j * j for j in range(100_000))
    result = meter.close()
    if not is_rapl_available():
        assert "RAPL" not in result.energy_source
    if result.energy_source == TDP_ESTIMATE:
        assert not result.measured


def test_a_tdp_estimate_is_labelled_estimated_not_measured():
    record = measured_impacts(0.5, "FRA", energy_source=TDP_ESTIMATE)
    assert record.source == "estimated (TDP)"
    assert record.extra["energy_source"] == TDP_ESTIMATE


def test_measured_record_keeps_the_estimate_beside_it():
    profile = ImpactProfile(provider="self-hosted", ecologits_provider="huggingface_hub", ecologits_model="meta-llama/Meta-Llama-3.1-8B-Instruct", zone="FRA")
    estimate = HostedEstimator().estimate(profile, 100, 200)
    record = measured_impacts(0.5, "FRA", estimate, energy_source="RAPL")
    assert record.source == "measured"
    assert record.energy_wh.value == pytest.approx(0.5)
    assert record.gwp_g.value > estimate.embodied.gwp_g.value
    assert record.extra["model_based"]["source"] == "model-based"


def test_gateway_footprint_is_measured_per_request(tmp_path):
    footprint = GatewayFootprint(country_iso_code="FRA", output_dir=str(tmp_path))
    footprint.start()
    for _ in range(4):
        footprint.count()
    report = footprint.close()
    assert report["requests"] == 4
    assert report["energy_wh_per_request"] == pytest.approx(report["energy_wh"] / 4)
    assert report["energy_source"] in {TDP_ESTIMATE, "RAPL", "NVML", "RAPL+NVML"}
