"""Policy versions and reloads: validate first, never load a bad policy."""

from __future__ import annotations

import os

import pytest

from policies.engine import PolicyEngine, PolicyError, content_version
from tests.policies.conftest import DATA, RULES_POLICY, make_request


@pytest.fixture
def engine(catalogue, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(RULES_POLICY.read_text())
    return PolicyEngine.load(path, catalogue)


def test_version_is_the_content_hash(engine):
    assert engine.version == content_version(RULES_POLICY.read_text()) and len(engine.version) == 12


def test_loading_an_invalid_policy_raises_policy_error_with_lines(catalogue):
    with pytest.raises(PolicyError) as caught:
        PolicyEngine.load(DATA / "bad_policy.yaml", catalogue)
    assert [issue.line for issue in caught.value.issues] == [7, 10, 16, 20, 23]


def test_reload_with_a_valid_policy_swaps_version_and_rules(engine):
    old = engine.version
    result = engine.reload_text((DATA / "rules_policy_v2.yaml").read_text())
    assert (result.loaded, result.previous_version, engine.version) == (True, old, result.version)
    assert engine.decide(make_request(use_case="analysis")).rule_id == "analysis-medium"


def test_reload_with_a_bad_policy_keeps_the_old_one_and_reports_why(engine):
    old = engine.version
    result = engine.reload_text((DATA / "bad_policy.yaml").read_text())
    assert (result.loaded, engine.version) == (False, old)
    assert "unknown model 'gpt-7'" in [issue.message for issue in result.issues]
    assert engine.decide(make_request(use_case="analysis")).rule_id == "use-case-tier"


def test_reload_if_changed_does_nothing_while_the_file_is_unchanged(engine):
    assert engine.reload_if_changed() is None


def test_reload_if_changed_picks_up_an_edited_file(engine):
    engine.path.write_text((DATA / "rules_policy_v2.yaml").read_text())
    os.utime(engine.path, ns=(1, 1))
    result = engine.reload_if_changed()
    assert result is not None and result.loaded
    assert engine.policy.version_label == "rules-fixture-v2"
