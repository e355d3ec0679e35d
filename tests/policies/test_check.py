"""`sobria policy check`: schema and semantic errors, each with its line number."""

from __future__ import annotations

from typer.testing import CliRunner

from policies.check import check_text, covers
from gateway.commands.policy import policy_app
from policies.schema import Conditions
from tests.policies.conftest import DATA

BAD = DATA / "bad_policy.yaml"
runner = CliRunner()


def _issues(catalogue, text: str) -> list[tuple[int, str]]:
    return [(issue.line, issue.message) for issue in check_text(text, catalogue).issues]


def test_shipped_default_policy_is_valid(catalogue):
    from policies.engine import DEFAULT_POLICY

    assert check_text(DEFAULT_POLICY.read_text(encoding="utf-8"), catalogue).ok


def test_semantic_errors_are_reported_with_their_lines(catalogue):
    assert _issues(catalogue, BAD.read_text()) == [
        (7, "use case 'translation' has no example prompts"),
        (10, "unknown model 'gpt-7'"),
        (16, "rule 'finance-translation' is unreachable: rule 'all-translation-small' (rule #1) matches every request it matches"),
        (20, "rule 'ghost' names unknown use case 'astrology'"),
        (23, "cycle in fallbacks: small -> medium -> small"),
    ]


def test_schema_errors_are_reported_with_their_lines(catalogue):
    text = "use_cases:\n  - id: general\n    name: G\n    tier: huge\n    examples: [hi]\n"
    assert _issues(catalogue, text) == [(4, "must be one of small, medium, large")]


def test_rule_without_action_is_a_schema_error(catalogue):
    text = "use_cases:\n  - {id: general, name: G, tier: small, examples: [hi]}\nrules:\n  - id: idle\n    when: {}\n"
    assert _issues(catalogue, text) == [(4, "a rule needs an action: route, deny, cap or allow_explicit")]


def test_yaml_syntax_error_has_its_line(catalogue):
    line, message = _issues(catalogue, "use_cases:\n  - id: [general\n")[0]
    assert line == 3 and message.startswith("invalid YAML")


def test_an_impossible_date_is_an_issue_not_a_crash(catalogue):
    report = check_text("version_label: x\nvalid_from: 2026-13-45\n", catalogue)
    assert report.policy is None
    assert [issue.message.startswith("invalid YAML value") for issue in report.issues] == [True]


def test_missing_general_use_case_is_an_error(catalogue):
    text = "use_cases:\n  - {id: translation, name: T, tier: small, examples: [hi]}\n"
    assert _issues(catalogue, text) == [(1, "general use case 'general' is not declared")]


def test_a_narrower_earlier_rule_does_not_shadow_a_wider_later_one():
    narrow = Conditions(use_case=["translation"], department=["finance"])
    wide = Conditions(use_case=["translation"])
    assert (covers(wide, narrow), covers(narrow, wide)) == (True, False)


def test_a_smaller_time_window_does_not_shadow_a_larger_one():
    evening = Conditions.model_validate({"time": {"after": "18:00", "before": "20:00"}})
    night = Conditions.model_validate({"time": {"after": "18:00", "before": "07:00"}})
    assert (covers(night, evening), covers(evening, night)) == (True, False)


def test_cli_check_exits_non_zero_and_prints_file_and_line(catalogue):
    result = runner.invoke(policy_app, ["check", str(BAD)])
    assert result.exit_code == 1
    assert f"{BAD}:10: error: unknown model 'gpt-7'" in result.output


def test_cli_check_exits_zero_on_a_valid_policy():
    result = runner.invoke(policy_app, ["check", str(DATA / "rules_policy.yaml")])
    assert result.exit_code == 0
    assert "OK (5 use cases, 5 rules)" in result.output


FEW_ONE_LINERS = """\
use_cases:
  - id: general
    name: General
    tier: small
    examples:
      - "Quelle est la date de la prochaine réunion ?"
      - "What time is the all-hands?"
      - "Où se trouve la salle B12 ?"
  - id: translation
    name: Translation
    tier: small
    examples:
""" + "".join(f'      - "Traduis la phrase numéro {i} en anglais."\n' for i in range(10)) + """\
  - id: summarisation
    name: Summarisation
    tier: small
    examples:
""" + "".join(f'      - "Résume ce compte rendu numéro {i} :\\n\\nLe comité a validé le budget."\n' for i in range(10))


def test_check_warns_on_too_few_examples_and_on_one_line_only_examples(catalogue):
    report = check_text(FEW_ONE_LINERS, catalogue)
    assert report.ok
    warnings = [(w.severity, w.message) for w in report.warnings]
    assert ("warning", "use case 'general' has 3 example prompts; give at least 10") in warnings
    assert any(m.startswith("use case 'translation' has only one-line examples") for _, m in warnings)
    assert any(m.startswith("use case 'general' has only one-line examples") for _, m in warnings)
    assert not any("'summarisation'" in m for _, m in warnings)
    assert not any("'translation' has 10" in m for _, m in warnings)


def test_cli_check_prints_the_example_warnings_and_still_exits_zero(tmp_path):
    policy = tmp_path / "few.yaml"
    policy.write_text(FEW_ONE_LINERS, encoding="utf-8")
    result = runner.invoke(policy_app, ["check", str(policy), "--no-register"])
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "has 3 example prompts; give at least 10" in result.output
    assert "'translation' has only one-line examples" in result.output


def test_every_check_message_has_a_french_text_with_the_same_parameters():
    import string

    from gateway.i18n import catalogue
    from policies.messages import ENGLISH

    french = catalogue("fr")
    missing = [key for key in ENGLISH if key not in french]
    assert missing == []
    for key, english in ENGLISH.items():
        fields = {name for _, name, _, _ in string.Formatter().parse(english) if name}
        translated = {name for _, name, _, _ in string.Formatter().parse(french[key]) if name}
        assert translated <= fields, key


BROKEN_POLICIES = {
    "syntax": "use_cases:\n  - id: [general\n",
    "impossible date": "valid_from: 2026-13-45\n",
    "not a mapping": "- a\n- b\n",
    "schema": "version_label: x\nuse_cases:\n  - id: general\n    tier: huge\n    colour: blue\nrules:\n  - id: r\n    when: {time: {after: '25:00'}}\n",
}


def test_a_broken_policy_is_explained_in_french_on_a_french_page(catalogue):
    from gateway.i18n import say

    for name, text in BROKEN_POLICIES.items():
        report = check_text(text, catalogue)
        assert report.issues, name
        for issue in report.issues:
            french = say(issue.message, "fr")
            assert getattr(issue.message, "key", "").startswith("policy.check."), (name, issue.message)
            assert french != issue.message and "{" not in french, (name, french)


def test_semantic_errors_are_explained_in_french(catalogue):
    from gateway.i18n import say

    report = check_text(BAD.read_text(), catalogue)
    assert len(report.issues) >= 3
    for issue in report.issues:
        french = say(issue.message, "fr")
        assert french != issue.message and "{" not in french, french
