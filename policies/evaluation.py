"""Accuracy, recall and confusion matrix of use-case recognition, and the few-shot protocol.

The few-shot protocol judges recognition the way a policy uses it: a labelled corpus is
split per use case into `per_use_case` random examples (they become the policy's
examples) and the rest (the test), a policy is built from those examples, and every test
prompt is decided through `PolicyEngine.decide` exactly as the gateway would decide it,
low-confidence handling included.

The shipped task prior (`policies.task_prior`) was trained on the Dolly development
sample, so on that sample `run_protocol` switches it off, and `run_crossfit_protocol`
measures the classifier with a prior the honest way: the same examples and test as
`run_protocol` for a seed, the test cut into folds, and each fold decided by a policy
whose prior was trained on the other folds only. No test prompt ever contributed to the
prior that decided it, and the policy's examples contributed to no prior.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml
from typing import TYPE_CHECKING

from contracts.catalogue import Catalogue
from policies.classifier import UseCaseClassifier
from policies.decision import RoutingRequest

if TYPE_CHECKING:
    from policies.engine import PolicyEngine

DOLLY_RELATIVE = Path("shared") / "data" / "dolly_dev" / "dolly_dev.jsonl"

#: databricks-dolly-15k categories merged into six use cases (the dev sample's README).
DOLLY_USE_CASES: dict[str, str] = {
    "open_qa": "qa",
    "general_qa": "qa",
    "closed_qa": "document_qa",
    "information_extraction": "document_qa",
    "classification": "classification",
    "brainstorming": "brainstorming",
    "summarization": "summarization",
    "creative_writing": "creative_writing",
}


@dataclass(frozen=True, slots=True)
class Evaluation:
    """`confusion[(truth, predicted)]` counts; predictions below the threshold count as `fallback`."""

    labels: tuple[str, ...]
    confusion: Counter[tuple[str, str]]

    @property
    def total(self) -> int:
        return sum(self.confusion.values())

    @property
    def accuracy(self) -> float:
        right = sum(n for (truth, pred), n in self.confusion.items() if truth == pred)
        return right / self.total if self.total else 0.0

    def recall(self, label: str) -> float:
        row = sum(n for (truth, _), n in self.confusion.items() if truth == label)
        return self.confusion[(label, label)] / row if row else 0.0

    @property
    def truths(self) -> tuple[str, ...]:
        return tuple(label for label in self.labels if any(t == label for t, _ in self.confusion))

    @property
    def macro_recall(self) -> float:
        """Mean of the per-use-case recalls (every use case that has test prompts counts once)."""
        truths = self.truths
        return sum(self.recall(t) for t in truths) / len(truths) if truths else 0.0

    def render(self) -> str:
        """The confusion matrix as a Markdown table (rows: truth, columns: prediction)."""
        short = [label[:8] for label in self.labels]
        lines = [
            "| truth \\ predicted | " + " | ".join(short) + " | recall |",
            "|---|" + "---:|" * (len(self.labels) + 1),
        ]
        for truth in self.truths:
            cells = " | ".join(str(self.confusion[(truth, pred)]) for pred in self.labels)
            lines.append(f"| {truth} | {cells} | {self.recall(truth):.2f} |")
        lines.append(f"\naccuracy {self.accuracy:.3f}, macro recall {self.macro_recall:.3f} on {self.total} prompts")
        return "\n".join(lines)


def evaluate(
    classifier: UseCaseClassifier, labelled: Mapping[str, Sequence[str]], threshold: float, fallback: str
) -> Evaluation:
    """Classify every labelled prompt (below `threshold`: `fallback`), without the engine."""
    confusion: Counter[tuple[str, str]] = Counter()
    for truth, prompts in labelled.items():
        for prompt in prompts:
            prediction = classifier.predict(prompt)
            label = prediction.label if prediction.confidence >= threshold else fallback
            confusion[(truth, label)] += 1
    labels = tuple(dict.fromkeys([*labelled, *classifier.labels]))
    return Evaluation(labels, confusion)


def evaluate_engine(engine: PolicyEngine, labelled: Mapping[str, Sequence[str]]) -> Evaluation:
    """Decide every labelled prompt through the engine (model `auto`, no use case given)."""
    now = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    confusion: Counter[tuple[str, str]] = Counter()
    for truth, prompts in labelled.items():
        for prompt in prompts:
            request = RoutingRequest("auto", None, prompt, len(prompt) // 4, "eval", frozenset(), now)
            confusion[(truth, engine.decide(request).use_case)] += 1
    labels = tuple(dict.fromkeys([*labelled, *engine.use_cases]))
    return Evaluation(labels, confusion)


def dolly_prompt(instruction: str, context: str) -> str:
    """A Dolly record as an employee would send it: the request, then the pasted text."""
    instruction, context = instruction.strip(), context.strip()
    return f"{instruction}\n\n{context}" if context else instruction


def find_dolly(start: Path | None = None) -> Path:
    """The Dolly development sample beside the repository or beside one of its parents (worktrees)."""
    root = (start or Path(__file__)).resolve().parents[1]
    for parent in (root, *root.parents):
        if (parent / DOLLY_RELATIVE).is_file():
            return parent / DOLLY_RELATIVE
    return root.parent / DOLLY_RELATIVE


def dolly_records(path: Path) -> list[tuple[str, str]]:
    """(prompt, Dolly category) for every record of a Dolly JSON-lines file, in file order."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            records.append((dolly_prompt(record["instruction"], record["context"]), record["category"]))
    return records


def load_dolly(path: Path) -> dict[str, list[str]]:
    """Dolly JSON lines as prompts per use case, in file order."""
    labelled: dict[str, list[str]] = {}
    for prompt, category in dolly_records(path):
        labelled.setdefault(DOLLY_USE_CASES[category], []).append(prompt)
    return labelled


def few_shot_split(
    labelled: Mapping[str, Sequence[str]], per_use_case: int, seed: int
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(examples, test): `per_use_case` random prompts per use case for the policy, the rest to test."""
    rng = random.Random(seed)
    examples: dict[str, list[str]] = {}
    test: dict[str, list[str]] = {}
    for use_case in sorted(labelled):
        prompts = list(labelled[use_case])
        rng.shuffle(prompts)
        examples[use_case], test[use_case] = prompts[:per_use_case], prompts[per_use_case:]
    return examples, test


def protocol_policy_text(examples: Mapping[str, Iterable[str]], general: str, extra: Mapping | None = None) -> str:
    """A policy whose use cases are `examples`' keys, all on the small tier, `general` as the default."""
    policy = {
        "version_label": "few-shot-protocol",
        "defaults": {"general_use_case": general},
        "use_cases": [
            {"id": use_case, "name": use_case, "tier": "small", "examples": list(prompts)}
            for use_case, prompts in examples.items()
        ],
        **(extra or {}),
    }
    return yaml.safe_dump(policy, allow_unicode=True, sort_keys=False)


def run_protocol(
    labelled: Mapping[str, Sequence[str]], catalogue: Catalogue, seed: int, per_use_case: int = 20,
    general: str = "qa", extra: Mapping | None = None,
) -> Evaluation:
    """One seed of the few-shot protocol through the policy engine, without the task prior
    (it was trained on the Dolly sample this protocol is run on)."""
    from policies.engine import PolicyEngine

    examples, test = few_shot_split(labelled, per_use_case, seed)
    engine = PolicyEngine.from_text(
        protocol_policy_text(examples, general, extra), catalogue, f"protocol-{seed}", task_prior=None
    )
    return evaluate_engine(engine, test)


def crossfit_folds(
    test: Mapping[str, Sequence[str]], folds: int, seed: int
) -> list[dict[str, list[str]]]:
    """The test prompts cut into `folds` parts, each use case spread evenly over them."""
    rng = random.Random(1000 + seed)
    parts: list[dict[str, list[str]]] = [{} for _ in range(folds)]
    for use_case in sorted(test):
        prompts = list(test[use_case])
        rng.shuffle(prompts)
        for k in range(folds):
            parts[k][use_case] = prompts[k::folds]
    return parts


def run_crossfit_protocol(
    records: Sequence[tuple[str, str]], catalogue: Catalogue, seed: int, per_use_case: int = 20,
    folds: int = 5, general: str = "qa", use_cases: Mapping[str, str] = DOLLY_USE_CASES,
) -> Evaluation:
    """One seed of the few-shot protocol with a task prior cross-fitted on the sample.

    `records` are (prompt, task type) pairs; `use_cases` maps a task type to its use case.
    The examples and the test are those of `run_protocol` for the same seed; each fold of
    the test is decided by a policy whose prior was trained on the other folds' prompts
    (never on the examples, never on the fold)."""
    from policies.engine import PolicyEngine
    from policies.task_prior import TaskPrior

    labelled: dict[str, list[str]] = {}
    task_of: dict[str, str] = {}
    for prompt, task in records:
        labelled.setdefault(use_cases[task], []).append(prompt)
        task_of[prompt] = task
    examples, test = few_shot_split(labelled, per_use_case, seed)
    text = protocol_policy_text(examples, general)
    confusion: Counter[tuple[str, str]] = Counter()
    labels: tuple[str, ...] = ()
    for fold in crossfit_folds(test, folds, seed):
        held = {prompt for prompts in fold.values() for prompt in prompts}
        train = [(p, task_of[p]) for prompts in test.values() for p in prompts if p not in held]
        prior = TaskPrior.train(train, {"crossfit": f"seed {seed}"})
        engine = PolicyEngine.from_text(text, catalogue, f"protocol-{seed}-crossfit", task_prior=prior)
        result = evaluate_engine(engine, fold)
        confusion.update(result.confusion)
        labels = result.labels
    return Evaluation(labels, confusion)
