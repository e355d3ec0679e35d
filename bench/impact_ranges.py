"""Energy range widths (max/min) of the impact estimator, now and at an earlier revision.

Prints METHODOLOGY.md's "Range widths before and after" table (gpt-4o, mistral-small and
a self-hosted Llama 3.1 8B at 200 and 20,000 input tokens, 400 output tokens) and the
shipped catalogue's widths at 200/400 tokens quoted in the README. `--before REV`
extracts `estimators/` of that git revision into a temporary folder and evaluates the
same profiles with it in a subprocess (default: ce9f395, the last revision of the
previous method, `sobria-prefill-1`).

Run: python bench/impact_ranges.py [--before ce9f395] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROFILES = (  # label, EcoLogits provider, model, zone
    ("gpt-4o (USA)", "openai", "gpt-4o", "USA"),
    ("mistral-small (SWE)", "mistralai", "mistral-small-latest", "SWE"),
    ("Llama 3.1 8B, self-hosted (FRA)", "huggingface_hub", "meta-llama/Meta-Llama-3.1-8B-Instruct", "FRA"),
)
PROMPTS = (200, 20_000)
OUTPUT_TOKENS = 400

EVALUATE = """
import json, sys
from estimators.hosted import HostedEstimator
from estimators.impacts import ImpactProfile
rows = []
for label, provider, model, zone, prompt, output in json.loads(sys.argv[1]):
    profile = ImpactProfile(provider=provider, ecologits_provider=provider, ecologits_model=model, zone=zone)
    energy = HostedEstimator().estimate(profile, prompt, output).energy_wh
    rows.append([label, prompt, energy.min, energy.value, energy.max])
print(json.dumps(rows))
"""


def cases() -> list[list]:
    return [[label, provider, model, zone, prompt, OUTPUT_TOKENS]
            for label, provider, model, zone in PROFILES for prompt in PROMPTS]


def widths(estimators_parent: Path) -> list[list]:
    """[label, prompt, min, value, max] per case, with `estimators` imported from that folder."""
    env = {**os.environ, "PYTHONPATH": str(estimators_parent)}
    done = subprocess.run([sys.executable, "-c", EVALUATE, json.dumps(cases())], env=env, cwd=estimators_parent,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def at_revision(revision: str) -> list[list]:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", revision, "estimators"],
                             capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory() as folder:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        return widths(Path(folder))


def catalogue_widths() -> dict[str, float]:
    """Energy max/min of every shipped chat model at 200 input and 400 output tokens."""
    from estimators.hosted import HostedEstimator
    from gateway.providers.catalogue import Catalogue

    estimator = HostedEstimator()
    result = {}
    for spec in Catalogue.load(None).all():
        if spec.kind == "chat":
            energy = estimator.estimate(spec.impact, 200, OUTPUT_TOKENS).energy_wh
            result[spec.name] = energy.max / energy.min
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="ce9f395", help="git revision of the previous method ('' to skip)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    after = widths(ROOT)
    before = at_revision(args.before) if args.before else [[*row[:2], None, None, None] for row in after]
    print("| Model | Prompt | Before: min / value / max (Wh) | Before max/min | After: min / value / max (Wh) |"
          " After max/min |")
    print("|---|---|---|---|---|---|")
    for old, new in zip(before, after, strict=True):
        label, prompt = new[0], new[1]
        old_text = " / ".join(f"{x:.3g}" for x in old[2:]) if old[2] is not None else "-"
        old_width = f"{old[4] / old[2]:.1f}" if old[2] is not None else "-"
        print(f"| {label} | {prompt:,} | {old_text} | {old_width} | {' / '.join(f'{x:.3g}' for x in new[2:])} |"
              f" {new[4] / new[2]:.1f} |")
    shipped = catalogue_widths()
    print("\nShipped catalogue, energy max/min at 200/400 tokens: "
          + ", ".join(f"{name} {width:.1f}" for name, width in shipped.items()))
    if args.json:
        args.json.write_text(json.dumps({"before": before, "after": after, "catalogue": shipped}, indent=1))


if __name__ == "__main__":
    main()
