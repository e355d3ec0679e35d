"""Plain-language comparisons of a footprint (km by car, hours of laptop use ...), each with its source.

The factors are data (`data/equivalents.yaml`), not code, so the committee can check
and update them; the page always shows the source next to the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

DATA = Path(__file__).parent / "data" / "equivalents.yaml"


@dataclass(frozen=True, slots=True)
class Equivalent:
    """One everyday thing: how much of a criterion one unit of it stands for, and why we say so."""

    id: str
    criterion: str
    per_unit: float
    unit_key: str
    source: str
    url: str


@dataclass(frozen=True, slots=True)
class Comparison:
    equivalent: Equivalent
    units: float


@lru_cache(maxsize=1)
def equivalents(path: Path = DATA) -> tuple[Equivalent, ...]:
    rows = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(Equivalent(**{**row, "per_unit": float(row["per_unit"])}) for row in rows)


def compare(gco2e_g: float, energy_wh: float, water_ml: float) -> list[Comparison]:
    """Each known equivalent of these amounts (grams CO2e, Wh, ml)."""
    amounts = {"gco2e": gco2e_g, "energy": energy_wh, "water": water_ml}
    return [Comparison(e, amounts[e.criterion] / e.per_unit) for e in equivalents() if e.criterion in amounts]
