"""Each `classifier.low_confidence` mode decides an uncertain prediction as documented.

The fixture policy has a small, a medium and a large use case; the prompt "one alpha beta"
shares its words with the small one (translation) and the large one (analysis) alike, so
the classifier is torn between those two and the threshold (0.99) makes it uncertain.
"""

from __future__ import annotations

import pytest

from policies.engine import PolicyEngine
from policies.schema import TIER_RANK
from tests.policies.conftest import make_request

POLICY = """
version_label: low-confidence-fixture
defaults: {{general_use_case: general}}
classifier:
  threshold: 0.99
  low_confidence: {mode}
  top_candidates: 2
{default}
use_cases:
  - id: general
    name: General
    tier: medium
    examples: [gamma delta, gamma epsilon, delta epsilon]
  - id: translation
    name: Translation
    tier: small
    examples: [alpha one, alpha two, alpha three]
  - id: analysis
    name: Analysis
    tier: large
    examples: [beta one, beta two, beta three]
  - id: drafting
    name: Drafting
    tier: small
    examples: [zeta one, zeta two, zeta three]
"""
TORN = "one alpha beta"


def engine_for(catalogue, mode: str, default_use_case: str | None = None) -> PolicyEngine:
    default = f"  default_use_case: {default_use_case}" if default_use_case else ""
    text = POLICY.format(mode=mode, default=default).replace("\n\nuse_cases", "\nuse_cases")
    return PolicyEngine.from_text(text, catalogue)


def _tier(engine: PolicyEngine, model: str) -> str:
    spec = engine.catalogue.get(model)
    assert spec is not None
    return spec.tier


def test_the_fixture_prompt_is_torn_between_the_small_and_the_large_use_case(catalogue):
    prediction = engine_for(catalogue, "default").classifier.predict(TORN)
    top_two = {label for label, _ in prediction.ranked()[:2]}
    assert top_two == {"translation", "analysis"}
    assert prediction.confidence < 0.99


@pytest.mark.parametrize("mode", ["default", "smallest_of_top", "weighted_tier"])
def test_a_confident_prediction_is_not_touched_by_any_mode(catalogue, mode):
    engine = engine_for(catalogue, mode)
    text = POLICY.format(mode=mode, default="").replace("threshold: 0.99", "threshold: 0.2")
    confident = PolicyEngine.from_text(text.replace("\n\nuse_cases", "\nuse_cases"), catalogue)
    decision = confident.decide(make_request(use_case=None, prompt="alpha alpha one"))
    assert (decision.use_case, decision.low_confidence) == ("translation", False)
    assert engine.decide(make_request(use_case=None, prompt="alpha alpha one")).low_confidence


def test_default_mode_routes_to_the_general_use_case_without_a_configured_default(catalogue):
    decision = engine_for(catalogue, "default").decide(make_request(use_case=None, prompt=TORN))
    assert (decision.use_case, decision.low_confidence) == ("general", True)
    assert _tier(engine_for(catalogue, "default"), decision.model) == "medium"
    assert "default use case 'general'" in decision.reason


def test_default_mode_routes_to_the_configured_default_use_case(catalogue):
    decision = engine_for(catalogue, "default", "drafting").decide(make_request(use_case=None, prompt=TORN))
    assert (decision.use_case, decision.low_confidence) == ("drafting", True)


def test_smallest_of_top_takes_the_smallest_tier_among_the_top_candidates(catalogue):
    engine = engine_for(catalogue, "smallest_of_top")
    decision = engine.decide(make_request(use_case=None, prompt=TORN))
    assert (decision.use_case, decision.low_confidence) == ("translation", True)
    assert _tier(engine, decision.model) == "small"


def test_smallest_of_top_ignores_use_cases_outside_the_top_candidates(catalogue):
    # drafting is small too, but it is not among the two most likely use cases
    decision = engine_for(catalogue, "smallest_of_top").decide(make_request(use_case=None, prompt=TORN))
    assert decision.use_case != "drafting"


def test_weighted_tier_routes_between_the_candidates_tiers_and_records_the_most_likely(catalogue):
    engine = engine_for(catalogue, "weighted_tier")
    prediction = engine.classifier.predict(TORN)
    decision = engine.decide(make_request(use_case=None, prompt=TORN))
    assert (decision.use_case, decision.low_confidence) == (prediction.label, True)
    # small (rank 0) and large (rank 2) weighted about evenly: the medium tier
    assert TIER_RANK[_tier(engine, decision.model)] == 1
    assert decision.classifier_runner_up in {"translation", "analysis"} - {prediction.label}


@pytest.mark.parametrize(("prompt", "tier"), [("one alpha alpha alpha beta", "small"), ("one beta beta beta alpha", "large")])
def test_weighted_tier_leans_to_the_tier_of_a_clearly_more_likely_candidate(catalogue, prompt, tier):
    engine = engine_for(catalogue, "weighted_tier")
    prediction = engine.classifier.predict(prompt)
    assert prediction.confidence < 0.99 and prediction.ranked()[1][1] > 0.1
    decision = engine.decide(make_request(use_case=None, prompt=prompt))
    assert decision.low_confidence and _tier(engine, decision.model) == tier
