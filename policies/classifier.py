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

With a task prior (`policies.task_prior`, shipped with the package), the prior's eight
task-type probabilities for the instruction are one more feature block ("t"). Its weight
is set from the policy's own examples: the prior's probabilities alone must recognise
them (leave-one-out nearest centroid, balanced accuracy `prior_relevance`); from
`PRIOR_RAMP[0]` to `PRIOR_RAMP[1]` the block's weight rises from 0 to `PRIOR_WEIGHT`. So a
policy whose use cases are task types the prior knows (questions, questions on a
passage, lists of ideas, classification, summaries, creative writing) leans on it, and
one whose use cases it does not tell apart (the shipped default: translation, code,
titles, drafting...) is trained exactly as without it.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from policies.intent_cues import cue_families, opens_with_question
from policies.prompt_parts import PromptParts, split_prompt

if TYPE_CHECKING:
    from policies.task_prior import TaskPrior

CHAR_SIZES = (2, 3, 4, 5)
#: Regularisation strength of the logistic regression (scikit-learn's C).
REGULARISATION_C = 20.0
#: Weight of each feature block in the concatenated vector.
BLOCK_WEIGHTS = {"w": 1.5, "c": 0.5, "p": 0.8, "k": 1.0, "x": 1.0}
#: Blocks whose values are used as they are (probabilities), not as TF-IDF counts.
DENSE_BLOCKS = frozenset({"t"})
#: Weight of the task prior's block when the prior fully recognises the policy's examples.
PRIOR_WEIGHT = 4.0
#: Prior relevance (balanced accuracy) at which the prior's weight starts to rise, and where it is full.
PRIOR_RAMP = (0.45, 0.65)
PASTE_KINDS = ("text", "email", "code", "quote", "list", "history")
_MARKS = re.compile(r"[\u0300-\u036f]")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    """Lower case, accents removed, punctuation collapsed to single spaces."""
    text = _MARKS.sub("", unicodedata.normalize("NFKD", text.lower()))
    return _NON_WORD.sub(" ", text).strip()


def _blocks(parts: PromptParts) -> dict[str, Mapping[str, float]]:
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


Blocks = Mapping[str, Mapping[str, float]]


class LinearModel:
    """Feature blocks -> class probabilities: TF-IDF values (dense blocks as they are), each
    block L2-normalised and weighted, then a multinomial logistic regression.

    The index maps each block to its known features' column; unknown features are ignored."""

    def __init__(
        self, labels: Sequence[str], index: dict[str, dict[str, int]], idf: np.ndarray,
        coef: np.ndarray, bias: np.ndarray, weights: Mapping[str, float],
    ):
        self.labels = tuple(labels)
        self.index = index
        self.idf = idf
        # Python floats for `vector`: arithmetic on numpy scalars, one feature at a time,
        # costs several times as much as on floats.
        self.idf_values: list[float] = idf.tolist()
        self.coef = np.ascontiguousarray(coef)  # (features, labels)
        self.bias = bias
        self.weights = dict(weights)

    @classmethod
    def train(
        cls, docs: Sequence[tuple[str, Blocks]], labels: Sequence[str], c: float, weights: Mapping[str, float]
    ) -> "LinearModel":
        """Fit on (label, blocks) documents; `labels` fixes the order of the classes."""
        frequency: Counter[tuple[str, str]] = Counter()
        for _, blocks in docs:
            for block, bag in blocks.items():
                frequency.update((block, f) for f in bag)
        keys = sorted(frequency)
        index: dict[str, dict[str, int]] = {}
        for i, (block, feature) in enumerate(keys):
            index.setdefault(block, {})[feature] = i
        n_docs = len(docs)
        idf = np.array([math.log((1 + n_docs) / (1 + frequency[key])) + 1.0 for key in keys])
        model = cls(labels, index, idf, np.zeros((len(keys), len(labels))), np.zeros(len(labels)), weights)
        if len(labels) == 1:
            return model
        rows, cols, values = [], [], []
        for row, (_, blocks) in enumerate(docs):
            idx, vals = model.vector(blocks)
            rows.extend([row] * len(idx))
            cols.extend(idx)
            values.extend(vals)
        # scipy and scikit-learn are imported here, when a policy is loaded, not when the
        # module is: they cost about 1.8 s, which CLI commands that never classify skip.
        from scipy.sparse import csr_matrix

        from policies.lean_imports import logistic_regression

        LogisticRegression = logistic_regression()

        matrix = csr_matrix((values, (rows, cols)), shape=(n_docs, len(keys)))
        fitted = LogisticRegression(C=c, class_weight="balanced", solver="newton-cg", max_iter=2000)
        fitted.fit(matrix, [label for label, _ in docs])
        order = [list(fitted.classes_).index(label) for label in labels]
        coef, bias = fitted.coef_, fitted.intercept_
        if len(labels) == 2:  # scikit-learn keeps one row for two classes
            coef, bias = np.vstack([-coef[0] / 2, coef[0] / 2]), np.array([-bias[0] / 2, bias[0] / 2])
        model.coef = np.ascontiguousarray(coef[order].T)
        model.bias = bias[order]
        return model

    def vector(self, blocks: Blocks) -> tuple[list[int], list[float]]:
        """Known features' columns and values, each block L2-normalised and weighted."""
        idx: list[int] = []
        vals: list[float] = []
        idf = self.idf_values
        for block, bag in blocks.items():
            known = self.index.get(block)
            weight = self.weights.get(block, 0.0)
            if known is None or weight == 0.0:
                continue
            start = len(idx)
            dense = block in DENSE_BLOCKS
            for feature, count in bag.items():
                i = known.get(feature)
                if i is not None:
                    idx.append(i)
                    vals.append(count if dense else (1.0 + math.log(count)) * idf[i])
            norm = math.sqrt(sum(v * v for v in vals[start:]))
            if norm > 0:
                scale = weight / norm
                vals[start:] = [v * scale for v in vals[start:]]
        return idx, vals

    def probabilities(self, blocks: Blocks) -> np.ndarray | None:
        """Each class's probability, or None when no feature is known."""
        idx, vals = self.vector(blocks)
        if not idx:
            return None
        logits = self.bias + np.asarray(vals) @ self.coef[idx]
        logits = np.exp(logits - logits.max())
        return logits / logits.sum()


def prior_relevance(targets: Sequence[str], vectors: Sequence[Mapping[str, float]]) -> float:
    """How well the prior's probabilities alone tell the use cases apart: balanced accuracy of
    a leave-one-out nearest centroid over the examples (use cases with one example only
    give their centroid, they are not scored)."""
    keys = sorted({k for v in vectors for k in v})
    matrix = np.array([[v.get(k, 0.0) for k in keys] for v in vectors])
    labels = sorted(set(targets))
    members = np.array([[t == label for label in labels] for t in targets], dtype=float)  # (docs, labels)
    counts = members.sum(axis=0)
    sums = members.T @ matrix  # (labels, keys)
    recalls = []
    for j in range(len(labels)):
        if counts[j] < 2:
            continue
        right = 0
        for i in np.flatnonzero(members[:, j]):
            centroids = sums.copy()
            sizes = counts.copy()
            centroids[j] -= matrix[i]
            sizes[j] -= 1
            distances = ((matrix[i] - centroids / sizes[:, None]) ** 2).sum(axis=1)
            right += int(distances.argmin()) == j
        recalls.append(right / counts[j])
    return float(sum(recalls) / len(recalls)) if recalls else 0.0


class UseCaseClassifier:
    """Logistic regression over the instruction, trained on the policy's examples,
    with the task prior's probabilities as extra features when they help (see module doc)."""

    def __init__(self, examples: Mapping[str, Sequence[str]], prior: "TaskPrior | None" = None):
        self.labels: tuple[str, ...] = tuple(label for label, texts in examples.items() if texts)
        if not self.labels:
            raise ValueError("the classifier needs at least one use case with examples")
        docs: list[tuple[str, dict[str, Mapping[str, float]]]] = [
            (label, _blocks(split_prompt(text))) for label in self.labels for text in examples[label]
        ]
        #: The prior whose probabilities are features (None: not used), and its block's weight.
        self.prior: TaskPrior | None = None
        self.prior_weight = 0.0
        #: How well the prior alone recognised the examples (None: no prior was offered).
        self.prior_relevance: float | None = None
        if prior is not None and len(self.labels) > 1:
            vectors = [prior.probabilities(blocks) for _, blocks in docs]
            self.prior_relevance = prior_relevance([label for label, _ in docs], vectors)
            low, high = PRIOR_RAMP
            self.prior_weight = PRIOR_WEIGHT * min(1.0, max(0.0, (self.prior_relevance - low) / (high - low)))
            if self.prior_weight > 0:
                self.prior = prior
                for (_, blocks), vector in zip(docs, vectors):
                    blocks["t"] = vector
        weights = {**BLOCK_WEIGHTS, "t": self.prior_weight}
        self._model = LinearModel.train(docs, self.labels, REGULARISATION_C, weights)

    def predict(self, text: str) -> Prediction:
        """Most likely use case of a prompt, with the model's probability as confidence."""
        return self.predict_parts(split_prompt(text))

    def predict_parts(self, parts: PromptParts) -> Prediction:
        n_labels = len(self.labels)
        if n_labels == 1:
            return Prediction(self.labels[0], 1.0, {self.labels[0]: 1.0})
        blocks = _blocks(parts)
        if self.prior is not None:
            blocks["t"] = self.prior.probabilities(blocks)
        probabilities = self._model.probabilities(blocks)
        if probabilities is None:
            uniform = 1.0 / n_labels
            return Prediction(self.labels[0], uniform, {label: uniform for label in self.labels})
        best = int(probabilities.argmax())
        scores = {label: float(p) for label, p in zip(self.labels, probabilities)}
        return Prediction(self.labels[best], float(probabilities[best]), scores)
