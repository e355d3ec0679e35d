"""The held-out French and English prompts (tests/policies/data/heldout_prompts.yaml) as text."""

from __future__ import annotations

from pathlib import Path

import yaml

HELDOUT = Path(__file__).with_name("data") / "heldout_prompts.yaml"


def heldout_records() -> list[tuple[str, str, str, int]]:
    """(use case, language, prompt, pasted characters) for every held-out prompt."""
    data = yaml.safe_load(HELDOUT.read_text(encoding="utf-8"))
    records = []
    for use_case, prompts in data["prompts"].items():
        for item in prompts:
            pasted = ""
            if "paste" in item:
                pasted = "\n\n".join([data["pastes"][item["paste"]].strip()] * item.get("repeat", 1))
            text = f"{item['text']}\n\n{pasted}" if pasted else item["text"]
            records.append((use_case, item["lang"], text, len(pasted)))
    return records


def heldout_prompts() -> dict[str, list[str]]:
    """Held-out prompts per use case."""
    out: dict[str, list[str]] = {}
    for use_case, _, text, _ in heldout_records():
        out.setdefault(use_case, []).append(text)
    return out
