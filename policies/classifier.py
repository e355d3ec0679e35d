"""Offline use-case classifier: multinomial naive Bayes on words and character 4-grams.

Trained at policy load time from the use cases' example prompts (French and English);
no model download, no third-party dependency. Only the head and the tail of a long
prompt are read: that is where people say what they want ("Traduis…", "…summarise
the above"), and it keeps classification well under a millisecond.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

HEAD_CHARS = 400
TAIL_CHARS = 200
NGRAM = 4
SMOOTHING = 0.1
TEMPERATURE = 4.0
_MARKS = re.compile(r"[\u0300-\u036f]")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def _normalise(text: str) -> str:
    """Lower case, accents removed, punctuation collapsed to single spaces."""
    if len(text) > HEAD_CHARS + TAIL_CHARS:
        text = text[:HEAD_CHARS] + " " + text[-TAIL_CHARS:]
    text = _MARKS.sub("", unicodedata.normalize("NFKD", text.lower()))
    return _NON_WORD.sub(" ", text).strip()


def features(text: str) -> Counter[str]:
    """Bag of word unigrams, word bigrams and character 4-grams of the normalised text."""
    norm = _normalise(text)
    words = [w for w in norm.split(" ") if len(w) > 1]
    bag: Counter[str] = Counter(words)
    bag.update(a + "_" + b for a, b in zip(words, words[1:]))
    padded = " " + norm + " "
    bag.update("#" + padded[i : i + NGRAM] for i in range(len(padded) - NGRAM + 1))
    return bag


@dataclass(frozen=True, slots=True)
class Prediction:
    label: str
    confidence: float
    scores: dict[str, float]


class UseCaseClassifier:
    """Naive Bayes stored sparsely: per feature, only the classes that saw it."""

    def __init__(self, examples: Mapping[str, Sequence[str]], temperature: float = TEMPERATURE):
        self.labels: tuple[str, ...] = tuple(label for label, texts in examples.items() if texts)
        if not self.labels:
            raise ValueError("the classifier needs at least one use case with examples")
        self.temperature = temperature
        counts: dict[str, Counter[str]] = {label: Counter() for label in self.labels}
        for label in self.labels:
            for text in examples[label]:
                counts[label].update(features(text))
        vocabulary = set().union(*counts.values())
        size = len(vocabulary)
        n_docs = sum(len(examples[label]) for label in self.labels)
        index = {label: i for i, label in enumerate(self.labels)}
        self._prior = [math.log(len(examples[label]) / n_docs) for label in self.labels]
        self._log_norm = [math.log(sum(counts[label].values()) + SMOOTHING * size) for label in self.labels]
        log_alpha = math.log(SMOOTHING)
        self._deltas: dict[str, tuple[tuple[int, float], ...]] = {}
        for feature in vocabulary:
            self._deltas[feature] = tuple(
                (index[label], math.log(counts[label][feature] + SMOOTHING) - log_alpha)
                for label in self.labels
                if feature in counts[label]
            )

    def predict(self, text: str) -> Prediction:
        """Most likely use case, with a tempered posterior as confidence."""
        bag = features(text)
        n_labels = len(self.labels)
        gain = [0.0] * n_labels
        seen = 0
        deltas = self._deltas
        for feature, count in bag.items():
            entries = deltas.get(feature)
            if entries is None:
                continue
            seen += count
            for i, delta in entries:
                gain[i] += count * delta
        if seen == 0:
            uniform = 1.0 / n_labels
            return Prediction(self.labels[0], uniform, {label: uniform for label in self.labels})
        log_alpha = math.log(SMOOTHING)
        scores = [
            self._prior[i] + gain[i] + seen * (log_alpha - self._log_norm[i]) for i in range(n_labels)
        ]
        scale = self.temperature / seen
        top = max(scores)
        weights = [math.exp((s - top) * scale) for s in scores]
        total = sum(weights)
        best = scores.index(top)
        posterior = {label: w / total for label, w in zip(self.labels, weights)}
        return Prediction(self.labels[best], weights[best] / total, posterior)
