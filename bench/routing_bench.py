"""Routing decision cost and frugality of the default policy.

Run: python bench/routing_bench.py [--policy FILE] [--iterations N]

1. CPU time per `PolicyEngine.decide` (thread CPU time, so other processes on the
   machine do not count), p50/p95/p99 in microseconds, for an explicit use case and for
   classified prompts of about 1 kB and 10 kB (an instruction with a pasted e-mail or
   report, French and English), and the policy load time (which trains the classifier).
   Targets (issue 16): p50 below 1 ms, p99 below 3 ms on the 1 kB and 10 kB prompts.
2. Frugality: the held-out prompts (tests/policies/data/heldout_prompts.yaml) routed by
   the policy, against always the largest and always the smallest model, per 1000
   requests, one model-based estimation method for every model (policies.frugality).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.providers.catalogue import Catalogue  # noqa: E402
from policies.decision import RoutingRequest  # noqa: E402
from policies.engine import PolicyEngine  # noqa: E402
from policies.frugality import Served, measure  # noqa: E402
from tests.policies.heldout import heldout_records  # noqa: E402

FILLER_FR = (
    "Le comité de pilotage s'est réuni le 12 novembre pour examiner l'avancement du projet, "
    "les risques identifiés et le budget consommé à date. "
)
FILLER_EN = (
    "Occupancy averaged 54% of desks on Tuesdays and Thursdays, and the cleaning contract comes up "
    "for renewal in February with three suppliers asked to quote. "
)


def _sized(instruction: str, filler: str, size: int) -> str:
    body = (filler * (size // len(filler) + 1))[: max(0, size - len(instruction) - 2)]
    return f"{instruction}\n\n{body}"


SCENARIOS = {
    "explicit use case (no classifier)": ("translation", "Translate this into German."),
    "auto, 1 kB, FR summary + pasted minutes": (None, _sized("Résume le compte rendu suivant en cinq points.", FILLER_FR, 1_000)),
    "auto, 1 kB, EN translation + pasted report": (None, _sized("Translate this report into French:", FILLER_EN, 1_000)),
    "auto, 10 kB, FR summary + pasted minutes": (None, _sized("Résume le compte rendu suivant en cinq points.", FILLER_FR, 10_000)),
    "auto, 10 kB, EN question, pasted first": (None, FILLER_EN * 70 + "\n\nWhat are the main risks in the text above?"),
}


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency(engine: PolicyEngine, iterations: int) -> None:
    print(f"{'scenario':<46}{'p50 µs':>9}{'p95 µs':>9}{'p99 µs':>9}  use case")
    now = datetime.now(timezone.utc)
    for name, (use_case, prompt) in SCENARIOS.items():
        request = RoutingRequest("auto", use_case, prompt, len(prompt) // 4, "finance", frozenset({"employee"}), now)
        for _ in range(200):
            decision = engine.decide(request)
        samples = []
        for _ in range(iterations):
            t0 = time.thread_time_ns()
            engine.decide(request)
            samples.append((time.thread_time_ns() - t0) / 1000)
        print(
            f"{name:<46}{statistics.median(samples):>9.1f}"
            f"{_percentile(samples, 0.95):>9.1f}{_percentile(samples, 0.99):>9.1f}  {decision.use_case}"
        )


def frugality(engine: PolicyEngine, catalogue: Catalogue, output_tokens: int) -> None:
    now = datetime.now(timezone.utc)
    routed = []
    for _, _, text, _ in heldout_records():
        tokens = max(1, len(text) // 4)
        decision = engine.decide(RoutingRequest("auto", None, text, tokens, "bench", frozenset(), now))
        output = min(output_tokens, decision.max_tokens_cap or output_tokens)
        routed.append(Served(decision.model, tokens, output))
    print(f"\n{len(routed)} held-out prompts, {output_tokens} output tokens each (capped by the policy):")
    print(measure(routed, catalogue).render())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", type=Path, default=None)
    parser.add_argument("--iterations", type=int, default=5_000)
    parser.add_argument("--output-tokens", type=int, default=400)
    args = parser.parse_args()
    catalogue = Catalogue.load(env={})
    start = time.perf_counter()
    engine = PolicyEngine.load(args.policy, catalogue)
    load_ms = (time.perf_counter() - start) * 1000
    print(f"policy {engine.version} loaded and classifier trained in {load_ms:.1f} ms")
    latency(engine, args.iterations)
    frugality(engine, catalogue, args.output_tokens)


if __name__ == "__main__":
    main()
