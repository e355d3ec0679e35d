"""Use-case recognition quality: the few-shot protocol on the Dolly development sample,
and the held-out French and English prompts through the default policy.

Run: python bench/routing_quality.py [--dolly PATH] [--seeds 5]
Prints, per seed, accuracy and macro recall; then mean and range; the per-use-case
recall and confusion matrix of the first seed; and the held-out accuracy.
The Dolly sample is ../shared/data/dolly_dev/dolly_dev.jsonl beside the repository
(CC BY-SA 3.0, Databricks).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.catalogue import Catalogue  # noqa: E402
from policies.engine import PolicyEngine  # noqa: E402
from policies.evaluation import evaluate_engine, load_dolly, run_protocol  # noqa: E402
from tests.policies.heldout import heldout_prompts  # noqa: E402

DOLLY = ROOT.parent / "shared" / "data" / "dolly_dev" / "dolly_dev.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dolly", type=Path, default=DOLLY)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    catalogue = Catalogue.load(env={})
    labelled = load_dolly(args.dolly)
    runs = []
    for seed in range(args.seeds):
        result = run_protocol(labelled, catalogue, seed)
        runs.append(result)
        print(f"seed {seed}: accuracy {result.accuracy:.3f}, macro recall {result.macro_recall:.3f}")
    for name, values in (("accuracy", [r.accuracy for r in runs]), ("macro recall", [r.macro_recall for r in runs])):
        print(f"{name}: mean {statistics.mean(values):.3f}, range {min(values):.3f} to {max(values):.3f}")
    per_class = {t: statistics.mean(r.recall(t) for r in runs) for t in runs[0].truths}
    print("mean recall per use case: " + ", ".join(f"{t} {v:.2f}" for t, v in per_class.items()))
    print("\nseed 0 confusion matrix:\n" + runs[0].render())
    engine = PolicyEngine.load(None, catalogue)
    held = evaluate_engine(engine, heldout_prompts())
    print("\nheld-out FR/EN prompts, default policy:\n" + held.render())


if __name__ == "__main__":
    main()
