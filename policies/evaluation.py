"""Accuracy and confusion matrix of the use-case classifier on a labelled set of prompts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from policies.classifier import UseCaseClassifier


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

    def render(self) -> str:
        """The confusion matrix as a Markdown table (rows: truth, columns: prediction)."""
        short = [label[:8] for label in self.labels]
        lines = [
            "| truth \\ predicted | " + " | ".join(short) + " | recall |",
            "|---|" + "---:|" * (len(self.labels) + 1),
        ]
        for truth in self.labels:
            cells = " | ".join(str(self.confusion[(truth, pred)]) for pred in self.labels)
            lines.append(f"| {truth} | {cells} | {self.recall(truth):.2f} |")
        lines.append(f"\naccuracy {self.accuracy:.3f} on {self.total} prompts")
        return "\n".join(lines)


def evaluate(
    classifier: UseCaseClassifier, labelled: Mapping[str, Sequence[str]], threshold: float, fallback: str
) -> Evaluation:
    """Classify every labelled prompt as the engine would (below `threshold`: `fallback`)."""
    confusion: Counter[tuple[str, str]] = Counter()
    for truth, prompts in labelled.items():
        for prompt in prompts:
            prediction = classifier.predict(prompt)
            label = prediction.label if prediction.confidence >= threshold else fallback
            confusion[(truth, label)] += 1
    labels = tuple(dict.fromkeys([*labelled, *classifier.labels]))
    return Evaluation(labels, confusion)
