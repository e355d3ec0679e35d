"""A caller who names a model: served if allowed, else routed down or refused as the policy says."""

from __future__ import annotations

import pytest

from gateway.edge.errors import from_domain
from policies.decision import PolicyDenied
from tests.policies.conftest import make_request


def test_named_model_within_the_use_case_tiers_is_served(rules_engine):
    decision = rules_engine.decide(make_request(use_case="analysis", model="gpt-4o"))
    assert (decision.model, decision.rule_id) == ("gpt-4o", "explicit-model")


def test_named_smaller_model_is_served(rules_engine):
    decision = rules_engine.decide(make_request(use_case="general", model="mistral-small"))
    assert decision.model == "mistral-small"


def test_named_large_model_for_a_small_use_case_is_routed_down_and_says_why(rules_engine):
    decision = rules_engine.decide(make_request(use_case="translation", model="gpt-4o"))
    assert (decision.model, decision.rule_id) == ("mistral-small", "explicit-model-downgrade")
    assert "gpt-4o is not allowed for use case 'translation'" in decision.reason


def test_downgrade_goes_to_the_matched_rule_route(rules_engine):
    decision = rules_engine.decide(make_request(use_case="general", model="gpt-4o", tokens=20))
    assert (decision.model, decision.rule_id) == ("gpt-4o-mini", "short-general-mini")


def test_use_case_set_to_refuse_rejects_a_too_large_model(rules_engine):
    with pytest.raises(PolicyDenied) as caught:
        rules_engine.decide(make_request(use_case="code", model="mistral-large"))
    assert (from_domain(caught.value).status, caught.value.code) == (403, "policy_denied")
    assert "not allowed for use case 'code'" in caught.value.message


def test_allow_explicit_rule_lets_a_caller_name_a_larger_model(rules_engine):
    decision = rules_engine.decide(make_request(use_case="translation", model="gpt-4o", department="research"))
    assert (decision.model, decision.rule_id) == ("gpt-4o", "research-explicit")


def test_unknown_model_name_is_404_model_not_found(rules_engine):
    with pytest.raises(PolicyDenied) as caught:
        rules_engine.decide(make_request(model="gpt-7"))
    assert (from_domain(caught.value).status, caught.value.code) == (404, "model_not_found")


def test_alias_to_auto_is_routed_by_policy(default_engine):
    decision = default_engine.decide(make_request(use_case="translation", model="sobria-auto"))
    assert (decision.model, decision.rule_id) == ("mistral-small", "use-case-tier")


def test_alias_to_a_tier_names_that_tier_preferred_model(default_engine):
    decision = default_engine.decide(make_request(use_case="analysis", model="sobria-small"))
    assert decision.model == "mistral-small"


def test_alias_to_a_tier_too_large_is_routed_down(default_engine):
    decision = default_engine.decide(make_request(use_case="translation", model="sobria-large"))
    assert decision.model == "mistral-small"
