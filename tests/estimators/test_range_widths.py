"""The energy range widths METHODOLOGY.md and the README quote (`bench/impact_ranges.py` prints them)."""

import pytest

from estimators.hosted import HostedEstimator
from estimators.impacts import ImpactProfile
from gateway.providers.catalogue import Catalogue

ESTIMATOR = HostedEstimator()

# METHODOLOGY.md section 4, "After" columns: (provider, model, zone, prompt) -> (min, value, max) Wh, max/min.
AFTER = {
    ("openai", "gpt-4o", "USA", 200): ((0.359, 0.829, 1.21), 3.4),
    ("openai", "gpt-4o", "USA", 20_000): ((1.92, 6.50, 17.2), 8.9),
    ("mistralai", "mistral-small-latest", "SWE", 200): ((0.0727, 0.148, 0.193), 2.7),
    ("mistralai", "mistral-small-latest", "SWE", 20_000): ((0.376, 1.17, 2.99), 7.9),
    ("huggingface_hub", "meta-llama/Meta-Llama-3.1-8B-Instruct", "FRA", 200): ((0.0304, 0.0356, 0.0456), 1.5),
    ("huggingface_hub", "meta-llama/Meta-Llama-3.1-8B-Instruct", "FRA", 20_000): ((0.115, 0.282, 0.715), 6.2),
}
# README and METHODOLOGY.md: the shipped catalogue at 200 input and 400 output tokens.
SHIPPED = {"mistral-small": 2.7, "mistral-large": 2.9, "local-llama": 1.7, "gpt-4o-mini": 1.6,
           "mistral-medium": 3.6, "gpt-4o": 3.4, "gpt-4.1-mini": 4.9}


@pytest.mark.parametrize(("case", "expected"), AFTER.items(), ids=lambda v: str(v))
def test_the_after_column_of_the_range_width_table(case, expected):
    provider, model, zone, prompt = case
    profile = ImpactProfile(provider=provider, ecologits_provider=provider, ecologits_model=model, zone=zone)
    energy = ESTIMATOR.estimate(profile, prompt, 400).energy_wh
    (low, value, high), width = expected
    assert (energy.min, energy.value, energy.max) == pytest.approx((low, value, high), rel=0.006)
    assert round(energy.max / energy.min, 1) == width


def test_the_shipped_catalogue_widths_quoted_in_the_readme():
    catalogue = Catalogue.load(None)
    widths = {}
    for name in SHIPPED:
        energy = ESTIMATOR.estimate(catalogue.get(name).impact, 200, 400).energy_wh
        widths[name] = round(energy.max / energy.min, 1)
    assert widths == SHIPPED
