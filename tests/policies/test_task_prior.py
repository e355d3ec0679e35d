"""The shipped task-type prior (issue 16): what it is, when the classifier leans on it, and
that it is only ever measured cross-fitted on the sample it was trained on.

Measured when written: on the Dolly development sample, seed 0 of the few-shot protocol,
macro recall 0.775 without the prior and 0.822 with a cross-fitted one (5 folds); on the
shipped 290-record subset (priors trained on about 136 records per fold) 0.744. The
shipped default policy's examples: prior relevance 0.397, so the prior is not used there.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from unittest.mock import patch

import pytest

from policies import evaluation
from policies.classifier import PRIOR_RAMP, PRIOR_WEIGHT, UseCaseClassifier, _blocks, prior_relevance
from policies.engine import PolicyEngine
from policies.evaluation import (
    DOLLY_USE_CASES, dolly_records, few_shot_split, find_dolly, load_dolly, protocol_policy_text,
    run_crossfit_protocol, run_protocol,
)
from policies.prompt_parts import split_prompt
from policies.task_prior import PRIOR_PATH, TaskPrior, shipped_prior
from tests.policies.test_recognition import DOLLY_SUBSET, UNRELATED_EN, UNRELATED_FR, _pasted

DEV_SAMPLE = find_dolly()
#: Seed 0, 5 folds, on the development sample: 0.822 measured (0.775 without the prior).
DEV_CROSSFIT_FLOOR = 0.79
DEV_CROSSFIT_LIFT = 0.02
#: Seed 0 on the shipped subset, whose priors see only ~136 records each: 0.744 measured.
SUBSET_CROSSFIT_FLOOR = 0.70


def _top_task(prompt: str) -> str:
    scores = shipped_prior().probabilities(_blocks(split_prompt(prompt)))
    return max(scores, key=lambda task: scores[task])


@pytest.fixture(scope="module")
def dolly_examples() -> dict[str, list[str]]:
    examples, _ = few_shot_split(load_dolly(DOLLY_SUBSET), 20, 0)
    return examples


def test_the_shipped_prior_is_the_model_of_dollys_eight_task_types():
    prior = shipped_prior()
    assert set(prior.labels) == set(DOLLY_USE_CASES)
    assert prior.meta["records"] == 702
    assert PRIOR_PATH.stat().st_size < 2_000_000
    if DEV_SAMPLE.is_file():
        assert prior.meta["source_sha256"] == hashlib.sha256(DEV_SAMPLE.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("prompt", "task"),
    [
        ("Write a short poem about the sea at night.", "creative_writing"),
        ("Give me a list of ideas for a team-building day.", "brainstorming"),
        ("Classify each of the following animals as a mammal or a bird: dog, eagle, whale, sparrow", "classification"),
        ("Who painted the Mona Lisa?", "open_qa"),
        ("Summarize the main points of this passage.\n\n" + UNRELATED_EN * 3, "summarization"),
        ("Extract the names of the people mentioned in the text below.\n\n" + UNRELATED_EN * 3, "information_extraction"),
    ],
)
def test_the_shipped_prior_recognises_task_types_on_prompts_it_was_not_trained_on(prompt, task):
    assert _top_task(prompt) == task


def test_the_default_policy_does_not_lean_on_the_prior(default_engine):
    classifier = default_engine.classifier
    assert classifier.prior_relevance is not None and classifier.prior_relevance < PRIOR_RAMP[0]
    assert classifier.prior is None and classifier.prior_weight == 0.0
    alone = UseCaseClassifier({uc.id: uc.examples for uc in default_engine.policy.use_cases})
    for prompt in ("Traduis ce mail en anglais :", "Summarise this report in three bullets.", "Who won the 1998 World Cup?"):
        assert classifier.predict(prompt).scores == pytest.approx(alone.predict(prompt).scores, abs=1e-12)


def test_a_policy_of_task_types_the_prior_knows_uses_it_at_full_weight(catalogue, dolly_examples):
    engine = PolicyEngine.from_text(protocol_policy_text(dolly_examples, "qa"), catalogue)
    assert engine.classifier.prior is shipped_prior()
    assert engine.classifier.prior_weight == PRIOR_WEIGHT
    alone = PolicyEngine.from_text(protocol_policy_text(dolly_examples, "qa"), catalogue, task_prior=None)
    assert alone.classifier.prior is None and alone.classifier.prior_relevance is None
    prompt = "Write a haiku about the first snow of winter."
    assert engine.classifier.predict(prompt).scores != alone.classifier.predict(prompt).scores


def test_a_policy_can_turn_the_prior_off(catalogue, dolly_examples):
    text = protocol_policy_text(dolly_examples, "qa", {"classifier": {"task_prior": False}})
    classifier = PolicyEngine.from_text(text, catalogue).classifier
    assert classifier.prior is None and classifier.prior_relevance is None and classifier.prior_weight == 0.0


def test_a_reload_keeps_the_engines_prior(catalogue, dolly_examples):
    text = protocol_policy_text(dolly_examples, "qa")
    engine = PolicyEngine.from_text(text, catalogue, task_prior=None)
    assert engine.reload_text(text.replace("few-shot-protocol", "reloaded")).loaded
    assert engine.classifier.prior is None


@pytest.mark.parametrize("filler", [UNRELATED_EN, UNRELATED_FR])
@pytest.mark.parametrize(
    "instruction",
    [
        "Summarize the following article in three sentences.",
        "Résume l'article suivant en trois phrases.",
        "Based on the text below, when did the committee meet?",
        "D'après le texte ci-dessous, quand le comité s'est-il réuni ?",
    ],
)
def test_with_the_prior_50_to_20000_pasted_characters_keep_the_use_case_and_confidence(
    catalogue, dolly_examples, instruction, filler
):
    # In Dolly every passage-bearing request is document_qa or summarization, so here, by
    # design, *whether* something was pasted counts; how much was pasted must not.
    classifier = PolicyEngine.from_text(protocol_policy_text(dolly_examples, "qa"), catalogue).classifier
    assert classifier.prior is not None
    predictions = [classifier.predict(f"{instruction}\n\n{_pasted(filler, n)}") for n in (50, 400, 2_000, 20_000)]
    assert len({p.label for p in predictions}) == 1
    assert max(p.confidence for p in predictions) - min(p.confidence for p in predictions) < 1e-9


def test_prior_relevance_is_the_balanced_leave_one_out_nearest_centroid_accuracy():
    apart = [{"x": 1.0, "y": 0.0}] * 3 + [{"x": 0.0, "y": 1.0}] * 3
    assert prior_relevance(["a"] * 3 + ["b"] * 3, apart) == 1.0
    same = [{"x": 0.5, "y": 0.5}] * 6
    assert prior_relevance(["a"] * 3 + ["b"] * 3, same) == 0.5  # ties go to the first use case: recalls 1 and 0
    one_each = [{"x": 1.0}, {"x": 0.0}]
    assert prior_relevance(["a", "b"], one_each) == 0.0  # nothing can be left out


def test_a_saved_prior_loads_back_with_the_same_probabilities(tmp_path: Path):
    prior = TaskPrior.train(dolly_records(DOLLY_SUBSET)[:120], {"test": True})
    prior.save(tmp_path / "prior.npz")
    loaded = TaskPrior.load(tmp_path / "prior.npz")
    assert loaded.labels == prior.labels and loaded.meta == prior.meta
    for prompt in ("Who is Ada Lovelace?", "Write a story about a lost key.", "Résume ce texte :\n\n" + UNRELATED_FR):
        blocks = _blocks(split_prompt(prompt))
        assert loaded.probabilities(blocks) == pytest.approx(prior.probabilities(blocks), abs=1e-5)


def test_the_crossfit_protocol_never_trains_a_prior_on_a_prompt_it_decides_or_on_an_example(catalogue):
    records = dolly_records(DOLLY_SUBSET)
    trained: list[set[str]] = []
    decided: list[set[str]] = []
    real_train, real_evaluate = TaskPrior.train, evaluation.evaluate_engine

    def train(recs, meta=None):
        recs = list(recs)
        trained.append({prompt for prompt, _ in recs})
        return real_train(recs, meta)

    def evaluate_engine(engine, labelled):
        decided.append({p for prompts in labelled.values() for p in prompts})
        return real_evaluate(engine, labelled)

    with patch.object(TaskPrior, "train", train), patch.object(evaluation, "evaluate_engine", evaluate_engine):
        result = run_crossfit_protocol(records, catalogue, seed=0, folds=5)
    examples, test = few_shot_split(load_dolly(DOLLY_SUBSET), 20, 0)
    example_set = {p for prompts in examples.values() for p in prompts}
    test_set = {p for prompts in test.values() for p in prompts}
    assert len(trained) == len(decided) == 5
    assert set().union(*decided) == test_set and sum(map(len, decided)) == len(test_set) == result.total
    for prior_set, fold in zip(trained, decided):
        assert not prior_set & fold
        assert not prior_set & example_set
        assert prior_set == test_set - fold


def test_crossfit_protocol_on_the_shipped_subset_is_above_the_floor(catalogue):
    result = run_crossfit_protocol(dolly_records(DOLLY_SUBSET), catalogue, seed=0)
    print("\n" + result.render())
    assert result.macro_recall >= SUBSET_CROSSFIT_FLOOR


@pytest.mark.skipif(not DEV_SAMPLE.is_file(), reason="the Dolly development sample (shared/data/dolly_dev) is absent")
def test_the_crossfit_prior_lifts_macro_recall_on_the_development_sample(catalogue):
    without = run_protocol(load_dolly(DEV_SAMPLE), catalogue, seed=0)
    with_prior = run_crossfit_protocol(dolly_records(DEV_SAMPLE), catalogue, seed=0)
    print(f"\nseed 0: macro recall {without.macro_recall:.3f} without the prior, {with_prior.macro_recall:.3f} cross-fitted")
    assert with_prior.total == without.total
    assert with_prior.macro_recall >= DEV_CROSSFIT_FLOOR
    assert with_prior.macro_recall >= without.macro_recall + DEV_CROSSFIT_LIFT
