"""Where the use case comes from: the caller, else the classifier, else the general one."""

from __future__ import annotations

import pytest

from gateway.edge.errors import from_domain
from policies.decision import PolicyDenied
from policies.engine import PolicyEngine
from tests.policies.conftest import RULES_POLICY, make_request


def test_explicit_use_case_is_taken_as_given_without_classifying(rules_engine):
    decision = rules_engine.decide(make_request(use_case="translation", prompt="Write a Python function."))
    assert (decision.use_case, decision.classifier_confidence) == ("translation", None)


def test_unknown_explicit_use_case_is_403_use_case_unknown(rules_engine):
    with pytest.raises(PolicyDenied) as caught:
        rules_engine.decide(make_request(use_case="astrology"))
    assert (from_domain(caught.value).status, caught.value.code) == (403, "use_case_unknown")


def test_unknown_use_case_goes_to_general_when_the_policy_says_so(catalogue):
    text = RULES_POLICY.read_text().replace("unknown_use_case: refuse", "unknown_use_case: general")
    engine = PolicyEngine.from_text(text, catalogue)
    assert engine.decide(make_request(use_case="astrology")).use_case == "general"


def test_suspended_use_case_is_403_use_case_denied(rules_engine):
    with pytest.raises(PolicyDenied) as caught:
        rules_engine.decide(make_request(use_case="legacy"))
    assert (from_domain(caught.value).status, caught.value.code) == (403, "use_case_denied")


def test_prompt_is_classified_when_no_use_case_is_given(default_engine):
    decision = default_engine.decide(make_request(use_case=None, prompt="Traduis ce courriel en espagnol, merci."))
    assert decision.use_case == "translation"
    assert decision.classifier_confidence is not None and decision.classifier_confidence >= 0.45


def test_low_confidence_is_the_policy_decision_and_is_flagged(default_engine):
    decision = default_engine.decide(make_request(use_case=None, prompt="zxq vvv"))
    assert decision.low_confidence and "classifier unsure" in decision.reason
    assert decision.classifier_runner_up is not None


def test_empty_prompt_without_use_case_is_general(default_engine):
    assert default_engine.decide(make_request(use_case=None, prompt="")).use_case == "general"


def test_suspended_use_cases_are_not_learnt_by_the_classifier(rules_engine):
    assert "legacy" not in rules_engine.classifier.labels
