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


def test_the_reservation_bound_exceeds_the_displayed_max_by_the_stated_factors():
    """METHODOLOGY.md section 4: 1.15-1.5x at 200/400 tokens, 1.04-1.9x over the grid below."""
    chat = [spec for spec in Catalogue.load(None).all() if spec.kind == "chat"]

    def ratios(prompts, outputs) -> list[float]:
        found = []
        for spec in chat:
            for prompt in prompts:
                for output in outputs:
                    impacts = ESTIMATOR.estimate(spec.impact, prompt, output)
                    assert impacts.reservation_gwp_g is not None, spec.name
                    found.append(impacts.reservation_gwp_g / impacts.gwp_g.max)
        return found

    at_200_400 = ratios([200], [400])
    assert round(min(at_200_400), 2) >= 1.15 and round(max(at_200_400), 1) <= 1.5
    grid = ratios([0, 10, 200, 2000, 20_000, 100_000], [1, 50, 400, 4000, 16_000])
    assert round(min(grid), 2) >= 1.04 and round(max(grid), 1) <= 1.9


def test_methodology_section_14_is_what_the_estimator_gives():
    """Every row of "Estimates: three models ... France vs. US grid", recomputed at 200/400 tokens."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "METHODOLOGY.md").read_text(encoding="utf-8")
    section = text.split("## 14.", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| Model")]
    providers = {"mistral-small-latest": "mistralai", "gpt-4o-mini": "openai", "gpt-4o": "openai"}

    def shown(r) -> str:
        return f"{r.value:.3g} [{r.min:.3g}–{r.max:.3g}]"

    assert len(rows) == 6
    for model, zone, energy, gwp, water in ([cell.strip() for cell in row] for row in rows):
        provider = providers[model]
        profile = ImpactProfile(provider=provider, ecologits_provider=provider, ecologits_model=model, zone=zone)
        impacts = ESTIMATOR.estimate(profile, 200, 400)
        assert (shown(impacts.energy_wh), shown(impacts.gwp_g), shown(impacts.water_ml)) == (energy, gwp, water)
