"""`sobria policy diff`: what changes between two policies, rule by rule."""

from __future__ import annotations

from typer.testing import CliRunner

from gateway.commands.policy import policy_app
from policies.diff import diff_policies
from policies.engine import PolicyEngine
from tests.policies.conftest import DATA, RULES_POLICY

V2 = DATA / "rules_policy_v2.yaml"


def test_diff_lists_every_change_rule_by_rule(catalogue):
    old = PolicyEngine.load(RULES_POLICY, catalogue).policy
    new = PolicyEngine.load(V2, catalogue).policy
    assert [c.render() for c in diff_policies(old, new)] == [
        "~ version_label: rules-fixture -> rules-fixture-v2",
        "~ use_case translation: max_tokens 1000 -> 800",
        "- rule legal-night-small: was #2",
        "+ rule analysis-medium: new at #2: {when: {use_case: [analysis], max_prompt_tokens: 19999}, route: {tier: medium}}",
        "~ rule short-general-mini: cap 256 -> 512",
        "> rule short-general-mini: #4 -> #3",
        "> rule long-prompts-large: #3 -> #4",
        "~ fallbacks small: [mistral-small, gpt-4o-mini] -> [mistral-small, gpt-4o-mini, local-llama]",
    ]


def test_identical_policies_have_no_difference(catalogue):
    policy = PolicyEngine.load(RULES_POLICY, catalogue).policy
    assert diff_policies(policy, policy) == []


def test_removing_a_rule_does_not_report_the_others_as_moved(catalogue):
    old = PolicyEngine.load(RULES_POLICY, catalogue)
    text = RULES_POLICY.read_text().replace(
        '  - id: interns-no-analysis\n    when: {use_case: [analysis], role: [intern]}\n'
        "    deny: {message: Interns may not use the analysis use case.}\n",
        "",
    )
    new = PolicyEngine.from_text(text, catalogue)
    assert [c.render() for c in diff_policies(old.policy, new.policy)] == ["- rule interns-no-analysis: was #1"]


def test_cli_diff_prints_versions_and_changes():
    result = CliRunner().invoke(policy_app, ["diff", str(RULES_POLICY), str(V2)])
    assert result.exit_code == 0
    assert "8 change(s)" in result.output
    assert "- rule legal-night-small: was #2" in result.output
