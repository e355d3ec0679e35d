"""The offline classifier on 210 labelled prompts written for Sobria (none are policy examples).

Floor: 0.85 overall accuracy, 0.65 recall for each use case. Measured: 0.890 overall,
worst recall 0.70 (code). Chance is 1/7 (0.14). The floor sits a few points under the
measurement so that editing the shipped examples does not break the build, while a real
regression (a broken tokenizer, a lost language) fails it. A miss is cheap by design:
the prompt goes to another tier, never to a refusal, and callers can name the use case.
"""

from __future__ import annotations


import pytest
import yaml

from policies.classifier import UseCaseClassifier
from policies.evaluation import evaluate
from tests.policies.conftest import DATA

ACCURACY_FLOOR = 0.85
RECALL_FLOOR = 0.65


@pytest.fixture(scope="module")
def labelled() -> dict[str, list[str]]:
    return yaml.safe_load((DATA / "labelled_prompts.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def evaluation(default_engine, labelled):
    policy = default_engine.policy
    result = evaluate(default_engine.classifier, labelled, policy.classifier.threshold, policy.defaults.general_use_case)
    print("\n" + result.render())
    return result


def test_labelled_set_has_at_least_200_prompts_for_every_use_case(default_engine, labelled):
    assert sum(len(prompts) for prompts in labelled.values()) >= 200
    assert set(labelled) == {uc.id for uc in default_engine.policy.use_cases}


def test_labelled_prompts_are_not_policy_examples(default_engine, labelled):
    examples = {e for uc in default_engine.policy.use_cases for e in uc.examples}
    assert not examples & {p for prompts in labelled.values() for p in prompts}


def test_accuracy_on_the_labelled_set_is_above_the_floor(evaluation):
    assert evaluation.accuracy >= ACCURACY_FLOOR


def test_every_use_case_recall_is_above_the_floor(evaluation):
    assert {label: evaluation.recall(label) >= RECALL_FLOOR for label in evaluation.labels} == {
        label: True for label in evaluation.labels
    }


def test_french_and_english_prompts_are_both_recognised(default_engine):
    assert default_engine.classifier.predict("Résume ce rapport en trois points.").label == "summarisation"
    assert default_engine.classifier.predict("Summarise this report in three bullets.").label == "summarisation"


def test_accents_do_not_matter(default_engine):
    assert default_engine.classifier.predict("Resume ce rapport en trois points.").label == "summarisation"


def test_a_use_case_without_examples_is_not_a_class():
    classifier = UseCaseClassifier({"a": ["alpha beta"], "b": []})
    assert classifier.labels == ("a",)


def test_text_with_no_known_feature_has_uniform_confidence():
    classifier = UseCaseClassifier({"a": ["alpha"], "b": ["beta"]})
    assert classifier.predict("???").confidence == 0.5
