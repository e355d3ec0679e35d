"""Routing decision latency: `PolicyEngine.decide` with and without the classifier.

Run: python bench/routing_bench.py [--policy FILE] [--iterations N]
Prints median, p95 and p99 in microseconds per scenario, and the policy load time
(which includes training the classifier on the policy's example prompts).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.catalogue import Catalogue  # noqa: E402
from policies.decision import RoutingRequest  # noqa: E402
from policies.engine import PolicyEngine  # noqa: E402

FILLER = (
    "Le comité de pilotage s'est réuni le 12 novembre pour examiner l'avancement du projet, "
    "les risques identifiés et le budget consommé à date. "
)
SCENARIOS = {
    "explicit use case (no classifier)": ("translation", "Translate this into German."),
    "explicit model, routed down": ("translation", "Translate this into German."),
    "auto, short prompt (60 chars)": (None, "Traduis ce paragraphe en anglais, s'il te plaît, merci."),
    "auto, typical prompt (1 kB)": (None, "Résume le compte rendu suivant en cinq points.\n" + FILLER * 7),
    "auto, long prompt (20 kB)": (None, "Résume le compte rendu suivant en cinq points.\n" + FILLER * 140),
}


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", type=Path, default=None)
    parser.add_argument("--iterations", type=int, default=20_000)
    args = parser.parse_args()
    catalogue = Catalogue.load(env={})
    start = time.perf_counter()
    engine = PolicyEngine.load(args.policy, catalogue)
    load_ms = (time.perf_counter() - start) * 1000
    print(f"policy {engine.version} loaded and classifier trained in {load_ms:.1f} ms")
    print(f"{'scenario':<38}{'median µs':>11}{'p95 µs':>9}{'p99 µs':>9}")
    now = datetime.now(timezone.utc)
    for name, (use_case, prompt) in SCENARIOS.items():
        model = "gpt-4o" if "explicit model" in name else "auto"
        request = RoutingRequest(model, use_case, prompt, len(prompt) // 4, "finance", frozenset({"employee"}), now)
        for _ in range(200):
            engine.decide(request)
        samples = []
        for _ in range(args.iterations):
            t0 = time.perf_counter_ns()
            engine.decide(request)
            samples.append((time.perf_counter_ns() - t0) / 1000)
        print(
            f"{name:<38}{statistics.median(samples):>11.1f}"
            f"{_percentile(samples, 0.95):>9.1f}{_percentile(samples, 0.99):>9.1f}"
        )


if __name__ == "__main__":
    main()
