"""Rule evaluation: in order, first match wins; conditions AND together, list items OR."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gateway.edge.errors import from_domain
from policies.decision import PolicyDenied
from tests.policies.conftest import make_request

NIGHT_PARIS = datetime(2026, 11, 23, 22, 30, tzinfo=timezone.utc)  # 23:30 in Paris

TABLE = [
    # (case, request arguments, model, rule_id, max_tokens_cap)
    ("no rule matches: the use case's tier", dict(use_case="translation"), "mistral-small", "use-case-tier", 1000),
    ("large tier use case", dict(use_case="analysis"), "mistral-large", "use-case-tier", None),
    ("short general prompt to a named model, capped", dict(tokens=50), "gpt-4o-mini", "short-general-mini", 256),
    ("max_prompt_tokens is inclusive, one more is not", dict(tokens=51), "mistral-medium", "use-case-tier", 2000),
    ("long prompt routed to large", dict(use_case="translation", tokens=20000), "mistral-large", "long-prompts-large", 1000),
    ("long prompt rule precedes the short-general rule", dict(tokens=25000), "mistral-large", "long-prompts-large", 2000),
    ("legal at night goes small", dict(use_case="analysis", department="legal", now=NIGHT_PARIS), "mistral-small", "legal-night-small", None),
    ("legal at noon is not matched", dict(use_case="analysis", department="legal"), "mistral-large", "use-case-tier", None),
    ("night rule takes precedence over long prompts", dict(department="legal", tokens=30000, now=NIGHT_PARIS), "mistral-small", "legal-night-small", 2000),
    ("interns' analysis rule only denies interns", dict(use_case="analysis", roles=("employee", "engineer")), "mistral-large", "use-case-tier", None),
]


@pytest.mark.parametrize(("case", "args", "model", "rule_id", "cap"), TABLE, ids=[row[0] for row in TABLE])
def test_rule_table(rules_engine, case, args, model, rule_id, cap):
    decision = rules_engine.decide(make_request(**args))
    assert (decision.model, decision.rule_id, decision.max_tokens_cap) == (model, rule_id, cap)


def test_deny_rule_raises_policy_denied_with_its_message_and_rule_id(rules_engine):
    with pytest.raises(PolicyDenied) as caught:
        rules_engine.decide(make_request(use_case="analysis", roles=("employee", "intern")))
    assert (from_domain(caught.value).status, caught.value.code, caught.value.rule_id) == (403, "policy_denied", "interns-no-analysis")
    assert caught.value.message == "Interns may not use the analysis use case."


def test_deny_rule_wins_over_later_rules_that_also_match(rules_engine):
    with pytest.raises(PolicyDenied):
        rules_engine.decide(make_request(use_case="analysis", roles=("intern",), tokens=30000))


def test_time_window_uses_the_policy_time_zone(rules_engine):
    summer_19h_utc = datetime(2026, 7, 1, 19, 0, tzinfo=timezone.utc)  # 21:00 in Paris
    decision = rules_engine.decide(make_request(use_case="analysis", department="legal", now=summer_19h_utc))
    assert decision.rule_id == "legal-night-small"


def test_decision_carries_policy_version_and_tier_fallbacks(rules_engine):
    decision = rules_engine.decide(make_request(use_case="analysis"))
    assert decision.policy_version == rules_engine.version
    assert decision.fallbacks == ("gpt-4o", "mistral-medium", "gpt-4.1-mini", "mistral-small", "gpt-4o-mini")


def test_decision_reason_names_the_rule(rules_engine):
    decision = rules_engine.decide(make_request(tokens=25000))
    assert "rule 'long-prompts-large'" in decision.reason
