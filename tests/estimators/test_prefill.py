"""The prefill term: input tokens count, with their documented uncertainty."""

import pytest

from estimators.hosted import HostedEstimator
from estimators.impacts import ImpactProfile
from estimators.prefill import equivalent_tokens, prefill_ratio

GPT4O = ImpactProfile(provider="openai", ecologits_provider="openai", ecologits_model="gpt-4o", zone="USA")


def test_input_tokens_add_energy():
    e = HostedEstimator()
    assert e.estimate(GPT4O, 200, 400).energy_wh.value > e.estimate(GPT4O, 0, 400).energy_wh.value


def test_ratio_is_ordered_and_below_one_output_token():
    r = prefill_ratio()
    assert 0 < r.min <= r.value <= r.max < 1
    assert "Epoch AI" in r.source


def test_equivalent_tokens_weights_the_prompt_by_the_ratio():
    assert equivalent_tokens(1000, 400, 0.15) == pytest.approx(550)


def test_a_10k_token_prompt_on_a_large_model_is_in_the_watt_hour_range():
    # Epoch AI, "How much energy does ChatGPT use?" (Feb. 2025): ~2.5 Wh for a 10k-token input on GPT-4o.
    impacts = HostedEstimator().estimate(GPT4O, 10_000, 400)
    assert impacts.energy_wh.min < 2.5 < impacts.energy_wh.max
    assert impacts.energy_wh.value >= 1.0
