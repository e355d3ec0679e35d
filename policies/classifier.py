"""Offline use-case classifier: a linear model over the instruction's words and characters.

Trained at policy load time from the use cases' example prompts (French and English);
nothing is downloaded. Each prompt is first split (`policies.prompt_parts`) into the
instruction and the pasted material; only the instruction's text is scored, plus one
feature per kind of pasted content (none, text, e-mail, code, quote, list, chat history).
So the confidence does not fall as a prompt grows, and appending pasted text changes
the prediction only through the presence and kind of what was pasted.

Features: word unigrams and bigrams and character 2- to 5-grams within words, and the
words and cue families again crossed with whether anything was pasted ("Who is X?"
over a passage and alone are different requests), TF-IDF weighted (sublinear counts)
and L2-normalised per block. The model is scikit-learn's
multinomial logistic regression with balanced class weights (Newton-CG: the same
weights as L-BFGS, trained several times faster on these sparse features); its coefficients are then
kept as a dense matrix so that one decision is a dictionary lookup per feature and one
small matrix product (no scikit-learn call on the request path).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from policies.intent_cues import cue_families, opens_with_question
from policies.prompt_parts import PromptParts, split_prompt

CHAR_SIZES = (2, 3, 4, 5)
#: Regularisation strength of the logistic regression (scikit-learn's C).
REGULARISATION_C = 20.0
#: Weight of each feature block in the concatenated vector.
BLOCK_WEIGHTS = {"w": 1.5, "c": 0.5, "p": 0.8, "k": 1.0, "x": 1.0}
PASTE_KINDS = ("text", "email", "code", "quote", "list", "history")
_MARKS = re.compile(r"[\u0300-\u036f]")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    """Lower case, accents removed, punctuation collapsed to single spaces."""
    text = _MARKS.sub("", unicodedata.normalize("NFKD", text.lower()))
    return _NON_WORD.sub(" ", text).strip()


def _blocks(parts: PromptParts) -> dict[str, Counter[str]]:
    """Raw feature counts per block: words ("w"), characters ("c"), pasted content ("p"),
    cue families ("k"), and words and cues crossed with the presence of a paste ("x")."""
    norm = normalise(parts.instruction)
    words = norm.split()
    w: Counter[str] = Counter(words)
    w.update(a + " " + b for a, b in zip(words, words[1:]))
    c: Counter[str] = Counter()
    for word in words:
        padded = f" {word} "
        for n in CHAR_SIZES:
            c.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    if words:
        w["^" + words[0]] += 1
        w["^" + " ".join(words[:2])] += 1
    p: Counter[str] = Counter({"kind:" + k: 1 for k in parts.pasted_kinds} or {"kind:none": 1})
    k: Counter[str] = Counter(cue_families(norm))
    if opens_with_question(norm):
        k["opens:question"] = 1
    state = "pasted|" if parts.pasted_kinds else "alone|"
    x: Counter[str] = Counter({state + f: n for f, n in (*w.items(), *k.items())})
    if parts.instruction.rstrip().endswith("?"):
        p["ends:question"] = 1
    elif parts.instruction.rstrip().endswith((":", "：")):
        p["ends:colon"] = 1
    return {"w": w, "c": c, "p": p, "k": k, "x": x}


@dataclass(frozen=True, slots=True)
class Prediction:
    """The most likely use case, its probability, and every use case's probability."""

    label: str
    confidence: float
    scores: dict[str, float]

    def ranked(self) -> list[tuple[str, float]]:
        """Use cases from the most to the least likely."""
        return sorted(self.scores.items(), key=lambda kv: -kv[1])

    @property
    def runner_up(self) -> tuple[str, float] | None:
        ranked = self.ranked()
        return ranked[1] if len(ranked) > 1 else None


class UseCaseClassifier:
    """Logistic regression over the instruction, trained on the policy's examples."""

    def __init__(self, examples: Mapping[str, Sequence[str]]):
        self.labels: tuple[str, ...] = tuple(label for label, texts in examples.items() if texts)
        if not self.labels:
            raise ValueError("the classifier needs at least one use case with examples")
        docs = [(label, _blocks(split_prompt(text))) for label in self.labels for text in examples[label]]
        self._index: dict[tuple[str, str], int] = {}
        frequency: Counter[tuple[str, str]] = Counter()
        for _, blocks in docs:
            for block, bag in blocks.items():
                frequency.update((block, f) for f in bag)
        for key in sorted(frequency):
            self._index[key] = len(self._index)
        n_docs = len(docs)
        self._idf = np.array(
            [math.log((1 + n_docs) / (1 + frequency[key])) + 1.0 for key in sorted(frequency)]
        )
        rows, cols, values = [], [], []
        for row, (_, blocks) in enumerate(docs):
            idx, vals = self._vector(blocks)
            rows.extend([row] * len(idx))
            cols.extend(idx)
            values.extend(vals)
        # scipy and scikit-learn are imported here, when a policy is loaded, not when the
        # module is: they cost about 1.8 s, which CLI commands that never classify skip.
        from scipy.sparse import csr_matrix

        from policies.lean_imports import logistic_regression

        LogisticRegression = logistic_regression()

        matrix = csr_matrix((values, (rows, cols)), shape=(n_docs, len(self._index)))
        targets = [label for label, _ in docs]
        if len(self.labels) == 1:
            self._coef = np.zeros((1, len(self._index)))
            self._bias = np.zeros(1)
            return
        model = LogisticRegression(C=REGULARISATION_C, class_weight="balanced", solver="newton-cg", max_iter=2000)
        model.fit(matrix, targets)
        order = [list(model.classes_).index(label) for label in self.labels]
        coef, bias = model.coef_, model.intercept_
        if len(self.labels) == 2:  # scikit-learn keeps one row for two classes
            coef, bias = np.vstack([-coef[0] / 2, coef[0] / 2]), np.array([-bias[0] / 2, bias[0] / 2])
        self._coef = np.ascontiguousarray(coef[order].T)
        self._bias = bias[order]

    def _vector(self, blocks: dict[str, Counter[str]]) -> tuple[list[int], list[float]]:
        """Known features' indexes and TF-IDF values, each block L2-normalised and weighted."""
        idx: list[int] = []
        vals: list[float] = []
        index, idf = self._index, self._idf
        for block, bag in blocks.items():
            start = len(idx)
            for feature, count in bag.items():
                i = index.get((block, feature))
                if i is not None:
                    idx.append(i)
                    vals.append((1.0 + math.log(count)) * idf[i])
            norm = math.sqrt(sum(v * v for v in vals[start:]))
            if norm > 0:
                scale = BLOCK_WEIGHTS[block] / norm
                vals[start:] = [v * scale for v in vals[start:]]
        return idx, vals

    def predict(self, text: str) -> Prediction:
        """Most likely use case of a prompt, with the model's probability as confidence."""
        return self.predict_parts(split_prompt(text))

    def predict_parts(self, parts: PromptParts) -> Prediction:
        idx, vals = self._vector(_blocks(parts))
        n_labels = len(self.labels)
        if n_labels == 1:
            return Prediction(self.labels[0], 1.0, {self.labels[0]: 1.0})
        if not idx:
            uniform = 1.0 / n_labels
            return Prediction(self.labels[0], uniform, {label: uniform for label in self.labels})
        logits = self._bias + np.asarray(vals) @ self._coef[idx]
        logits = np.exp(logits - logits.max())
        probabilities = logits / logits.sum()
        best = int(probabilities.argmax())
        scores = {label: float(p) for label, p in zip(self.labels, probabilities)}
        return Prediction(self.labels[best], float(probabilities[best]), scores)
