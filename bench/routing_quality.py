"""Use-case recognition quality and cost, before and after, in one run.

Run: python bench/routing_quality.py [--dolly PATH] [--seeds 5] [--folds 5] [--baseline REV] [--previous REV]

1. The few-shot protocol on the Dolly development sample (issue 16): per seed, 20 random
   prompts per use case become the policy's examples, the rest is the test, every test
   prompt decided through `PolicyEngine.decide`; accuracy, macro recall (mean and range
   over the seeds), mean recall per use case, seed 0's confusion matrix.
   "After, prior off" is this tree without the task prior. "After, cross-fit prior" is
   this tree with a task prior trained the way the shipped one is, but cross-fitted: the
   same examples and test as the other columns, the test cut into `--folds` folds, each
   fold decided with a prior trained on the other folds only (never on the fold, never on
   the policy's examples). The shipped prior was trained on this whole sample, so it is
   never used on it.
2. The held-out French and English prompts (tests/policies/data/heldout_prompts.yaml,
   never tuned on) through the shipped default policy.
3. CPU time per decision on about 1 kB and 10 kB prompts (thread time, p50 and p99),
   through the default policy (whose use cases the prior does not tell apart, so it is
   not used) and through a Dolly policy (seed 0's examples) that uses the shipped prior.

"Before" is the classifier and default policy of the base revision (`--baseline`, read
with `git show`, loaded from a temporary directory), decided the way that revision
decided: below its threshold (0.45), the general use case (`qa` in the protocol).
"Previous" is the classifier of `--previous` (by default the revision this work started
from) swapped into this tree's engine, so it is decided exactly as "after" is: through
`PolicyEngine.decide` with the same policy (its sibling modules, such as the intent cues,
are this tree's). The Dolly sample is found as shared/data/dolly_dev/dolly_dev.jsonl beside the repository
or one of its parent directories (CC BY-SA 3.0, Databricks).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest.mock import patch

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.providers.catalogue import Catalogue  # noqa: E402
from policies.decision import RoutingRequest  # noqa: E402
from policies import engine as engine_module  # noqa: E402
from policies.engine import PolicyEngine  # noqa: E402
from policies.evaluation import (  # noqa: E402
    Evaluation, dolly_records, evaluate, evaluate_engine, few_shot_split, find_dolly, load_dolly,
    protocol_policy_text, run_crossfit_protocol, run_protocol,
)
from tests.policies.heldout import heldout_prompts  # noqa: E402

BASELINE = "4027fa89180ab7cfca3e722fcb2cc8df747e7d0d"
PREVIOUS = "1567a0b"
BASELINE_THRESHOLD = 0.45
PROTOCOL_GENERAL = "qa"


def _git_show(rev: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True, capture_output=True, text=True
    ).stdout


def load_classifier_module(rev: str, workdir: Path, name: str) -> ModuleType:
    """`policies/classifier.py` of a revision, imported as module `name`."""
    source = workdir / f"{name}.py"
    source.write_text(_git_show(rev, "policies/classifier.py"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def without_prior(classifier: Callable[..., Any]) -> Callable[..., Any]:
    """A classifier class of a revision that predates the task prior, built the way this
    tree's engine builds one (`prior=` always passed; only `None` is accepted)."""

    def build(examples: Any, prior: Any = None) -> Any:
        if prior is not None:
            raise TypeError("this revision's classifier takes no task prior")
        return classifier(examples)

    return build


def load_baseline(rev: str, workdir: Path) -> tuple[ModuleType, dict[str, list[str]], str]:
    """The base revision's classifier module, its default policy's examples and general use case."""
    module = load_classifier_module(rev, workdir, "baseline_classifier")
    policy = yaml.safe_load(_git_show(rev, "policies/default_policy.yaml"))
    examples = {
        uc["id"]: list(uc.get("examples", []))
        for uc in policy["use_cases"]
        if uc.get("status", "active") in ("active", "pilot")
    }
    return module, examples, policy.get("defaults", {}).get("general_use_case", "general")


def summarise(name: str, runs: Sequence[Evaluation]) -> None:
    for seed, result in enumerate(runs):
        print(f"  seed {seed}: accuracy {result.accuracy:.3f}, macro recall {result.macro_recall:.3f}")
    for metric, values in (
        ("accuracy", [r.accuracy for r in runs]),
        ("macro recall", [r.macro_recall for r in runs]),
    ):
        print(f"  {name} {metric}: mean {statistics.mean(values):.3f}, range {min(values):.3f} to {max(values):.3f}")
    per_class = {t: statistics.mean(r.recall(t) for r in runs) for t in runs[0].truths}
    print("  mean recall per use case: " + ", ".join(f"{t} {v:.2f}" for t, v in per_class.items()))
    print("\n  seed 0 confusion matrix (rows: truth):\n" + runs[0].render())


def _sized(instruction: str, filler: str, size: int) -> str:
    body = (filler * (size // len(filler) + 1))[: max(0, size - len(instruction) - 2)]
    return f"{instruction}\n\n{body}"


FILLER = (
    "Le comité de pilotage s'est réuni le 12 novembre pour examiner l'avancement du projet, "
    "les risques identifiés et le budget consommé à date. The cleaning contract comes up for "
    "renewal in February with three suppliers asked to quote.\n"
)
LATENCY_PROMPTS = {
    "1 kB": _sized("Résume le compte rendu suivant en cinq points.", FILLER, 1_000),
    "10 kB": _sized("Translate this report into French, keep the figures:", FILLER, 10_000),
}


def cpu_times_us(decide: Callable[[str], Any], prompt: str, iterations: int) -> tuple[float, float]:
    """p50 and p99 of the thread CPU time of `decide(prompt)`, in microseconds."""
    for _ in range(100):
        decide(prompt)
    samples = []
    for _ in range(iterations):
        start = time.thread_time_ns()
        decide(prompt)
        samples.append((time.thread_time_ns() - start) / 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.99 * len(samples)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dolly", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--folds", type=int, default=5, help="folds of the cross-fitted prior")
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the 'before' classifier")
    parser.add_argument("--previous", default=PREVIOUS, help="git revision of the 'previous' classifier")
    parser.add_argument("--iterations", type=int, default=3_000)
    args = parser.parse_args()
    catalogue = Catalogue.load(env={})
    dolly = args.dolly or find_dolly()
    labelled = load_dolly(dolly)
    records = dolly_records(dolly)
    print(f"Dolly development sample: {dolly} ({sum(map(len, labelled.values()))} prompts)")
    with tempfile.TemporaryDirectory() as workdir:
        old, old_examples, old_general = load_baseline(args.baseline, Path(workdir))
        previous = load_classifier_module(args.previous, Path(workdir), "previous_classifier")

        def before_protocol(seed: int) -> Evaluation:
            examples, test = few_shot_split(labelled, 20, seed)
            return evaluate(old.UseCaseClassifier(examples), test, BASELINE_THRESHOLD, PROTOCOL_GENERAL)

        print(f"\n== before ({args.baseline[:12]}): few-shot protocol, 20 examples per use case")
        summarise("before", [before_protocol(seed) for seed in range(args.seeds)])
        with patch.object(engine_module, "UseCaseClassifier", without_prior(previous.UseCaseClassifier)):
            print(f"\n== previous ({args.previous[:12]}): few-shot protocol through PolicyEngine.decide")
            summarise("previous", [run_protocol(labelled, catalogue, seed) for seed in range(args.seeds)])
            previous_engine = PolicyEngine.load(None, catalogue, task_prior=None)
        print("\n== after, prior off (this tree without the task prior): few-shot protocol through PolicyEngine.decide")
        summarise("after, prior off", [run_protocol(labelled, catalogue, seed) for seed in range(args.seeds)])
        print(
            f"\n== after, cross-fit prior (this tree, a task prior per fold trained on the other {args.folds - 1}"
            f" of {args.folds} folds of the test): few-shot protocol through PolicyEngine.decide"
        )
        summarise(
            "after, cross-fit prior",
            [run_crossfit_protocol(records, catalogue, seed, folds=args.folds) for seed in range(args.seeds)],
        )

        held = heldout_prompts()
        old_classifier = old.UseCaseClassifier(old_examples)
        before_held = evaluate(old_classifier, held, BASELINE_THRESHOLD, old_general)
        previous_held = evaluate_engine(previous_engine, held)
        engine = PolicyEngine.load(None, catalogue)
        after_held = evaluate_engine(engine, held)
        print(f"\n== held-out FR/EN prompts ({after_held.total}), shipped default policy")
        print(
            f"  task prior: relevance {engine.classifier.prior_relevance:.3f} on the default policy's examples,"
            f" weight {engine.classifier.prior_weight:.2f} (0: not used)"
        )
        for name, result in (("before", before_held), ("previous", previous_held), ("after", after_held)):
            print(f"  {name + ':':<10}accuracy {result.accuracy:.3f}, macro recall {result.macro_recall:.3f}")
        print("\n  previous, confusion matrix:\n" + previous_held.render())
        print("\n  after, confusion matrix:\n" + after_held.render())

        now = datetime.now(timezone.utc)

        def deciding(chosen: PolicyEngine) -> Callable[[str], Any]:
            def decide(prompt: str) -> Any:
                return chosen.decide(RoutingRequest("auto", None, prompt, len(prompt) // 4, "bench", frozenset(), now))

            return decide

        examples, _ = few_shot_split(labelled, 20, 0)
        dolly_engine = PolicyEngine.from_text(protocol_policy_text(examples, PROTOCOL_GENERAL), catalogue, "dolly-seed-0")
        print(
            f"\n  dolly policy (seed 0's examples), shipped prior, for the latency only (the prior was trained on"
            f" these examples): relevance {dolly_engine.classifier.prior_relevance:.3f},"
            f" weight {dolly_engine.classifier.prior_weight:.2f}"
        )
        columns = (
            ("before", old_classifier.predict), ("previous", deciding(previous_engine)), ("after", deciding(engine)),
            ("prior", deciding(dolly_engine)),
        )
        print("\n== CPU time per decision (µs, thread time), default policy; 'prior': the dolly policy with the shipped prior")
        print(f"  {'prompt':<8}" + "".join(f"{name + ' p50':>14}{name + ' p99':>14}" for name, _ in columns))
        for size, prompt in LATENCY_PROMPTS.items():
            cells = []
            for _, decide in columns:
                p50, p99 = cpu_times_us(decide, prompt, args.iterations)
                cells.append(f"{p50:>14.1f}{p99:>14.1f}")
            print(f"  {size:<8}" + "".join(cells))
        print(
            "  (before: the classifier alone; previous, after and prior: the whole PolicyEngine.decide."
            " Target: p50 < 1000, p99 < 3000)"
        )


if __name__ == "__main__":
    main()
