"""A prior over task types, trained at build time on a public sample and shipped as data.

Twenty examples per use case teach the classifier little about how people phrase a
request; a few hundred labelled requests teach more. The prior is the classifier's own
linear model (same instruction features, `policies.classifier.LinearModel`) trained on
the 702 prompts of the databricks-dolly-15k development sample (CC BY-SA 3.0,
Databricks), labelled with Dolly's eight task categories (open_qa, general_qa,
closed_qa, information_extraction, classification, brainstorming, summarization,
creative_writing). Its eight probabilities become one feature block of the policy's
classifier, which learns from the policy's examples what each task type means for its
use cases, and whether to use the prior at all (`policies.classifier.PRIOR_RAMP`).

The trained model is `policies/data/task_prior.npz` (see `policies/data/TASK_PRIOR.md`
for its source and licence), loaded once per process when a policy that uses it is
compiled; nothing is downloaded. Rebuild it with

    python -m policies.task_prior [--dolly PATH] [--out PATH]

Measuring a classifier that uses it on the same sample would count prompts the prior
was trained on: `policies.evaluation.run_crossfit_protocol` trains a fresh prior per
fold on the other folds only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np

from policies.classifier import BLOCK_WEIGHTS, Blocks, LinearModel, _blocks
from policies.prompt_parts import split_prompt

PRIOR_PATH = Path(__file__).with_name("data") / "task_prior.npz"
#: The prior's regularisation (scikit-learn's C): stronger than the policy classifier's.
PRIOR_C = 2.0
_SEPARATOR = "\x1f"


class TaskPrior:
    """Task-type probabilities of an instruction's feature blocks."""

    def __init__(self, model: LinearModel, meta: Mapping[str, object] | None = None):
        self.model = model
        self.labels = model.labels
        self.meta = dict(meta or {})

    @classmethod
    def train(cls, records: Iterable[tuple[str, str]], meta: Mapping[str, object] | None = None) -> "TaskPrior":
        """Train on (prompt, task type) pairs."""
        docs = [(task, _blocks(split_prompt(prompt))) for prompt, task in records]
        labels = sorted({task for task, _ in docs})
        if len(labels) < 2:
            raise ValueError("a task prior needs at least two task types")
        return cls(LinearModel.train(docs, labels, PRIOR_C, BLOCK_WEIGHTS), {"records": len(docs), **(meta or {})})

    def probabilities(self, blocks: Blocks) -> dict[str, float]:
        """Each task type's probability (the model's biases alone when no feature is known)."""
        probabilities = self.model.probabilities({b: bag for b, bag in blocks.items() if b != "t"})
        if probabilities is None:
            logits = np.exp(self.model.bias - self.model.bias.max())
            probabilities = logits / logits.sum()
        return {label: float(p) for label, p in zip(self.labels, probabilities)}

    def save(self, path: Path) -> None:
        model = self.model
        keys = [(block, feature, i) for block, known in model.index.items() for feature, i in known.items()]
        keys.sort(key=lambda k: k[2])
        text = "\n".join(f"{block}{_SEPARATOR}{feature}" for block, feature, _ in keys)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            labels=np.array(json.dumps(list(model.labels))),
            keys=np.frombuffer(text.encode("utf-8"), dtype=np.uint8),
            idf=model.idf.astype(np.float32),
            coef=model.coef.astype(np.float32),
            bias=model.bias.astype(np.float32),
            weights=np.array(json.dumps(model.weights)),
            meta=np.array(json.dumps(self.meta, sort_keys=True)),
        )

    @classmethod
    def load(cls, path: Path) -> "TaskPrior":
        with np.load(path, allow_pickle=False) as data:
            labels = json.loads(str(data["labels"]))
            keys = bytes(data["keys"]).decode("utf-8").split("\n")
            index: dict[str, dict[str, int]] = {}
            for i, key in enumerate(keys):
                block, feature = key.split(_SEPARATOR, 1)
                index.setdefault(block, {})[feature] = i
            model = LinearModel(
                labels, index, data["idf"].astype(np.float64), data["coef"].astype(np.float64),
                data["bias"].astype(np.float64), json.loads(str(data["weights"])),
            )
            return cls(model, json.loads(str(data["meta"])))


@lru_cache(maxsize=1)
def shipped_prior() -> TaskPrior:
    """The prior shipped with the package, loaded once per process."""
    return TaskPrior.load(PRIOR_PATH)


def build(dolly: Path, out: Path = PRIOR_PATH) -> TaskPrior:
    """Train the prior on a Dolly sample and write it to `out`."""
    from policies.evaluation import dolly_records

    digest = hashlib.sha256(dolly.read_bytes()).hexdigest()
    prior = TaskPrior.train(dolly_records(dolly), {"source": dolly.name, "source_sha256": digest, "c": PRIOR_C})
    prior.save(out)
    return prior


def main() -> None:
    from policies.evaluation import find_dolly

    parser = argparse.ArgumentParser(description="Train the task prior on the Dolly development sample.")
    parser.add_argument("--dolly", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=PRIOR_PATH)
    args = parser.parse_args()
    prior = build(args.dolly or find_dolly(), args.out)
    features = sum(len(known) for known in prior.model.index.values())
    print(f"task prior: {prior.meta['records']} records, {len(prior.labels)} task types, {features} features -> {args.out}")


if __name__ == "__main__":
    main()
