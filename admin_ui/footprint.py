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


# A smaller unit for amounts below one of the everyday thing: (catalogue key, how many per unit).
SMALLER: dict[str, tuple[tuple[str, float], ...]] = {
    "car_km": (("ui.equivalent.car_m", 1000.0),),
    "laptop_hours": (("ui.equivalent.laptop_minutes", 60.0), ("ui.equivalent.laptop_seconds", 3600.0)),
    "water_glasses": (("ui.equivalent.water_teaspoons", 50.0),),
}


@dataclass(frozen=True, slots=True)
class Comparison:
    equivalent: Equivalent
    units: float

    def readable(self) -> tuple[str, float]:
        """(catalogue key, amount) in the first unit that gives at least 1 (e.g. 4 m rather than 0.004 km)."""
        key, amount = self.equivalent.unit_key, self.units
        for smaller_key, factor in SMALLER.get(self.equivalent.id, ()):
            if amount >= 1 or amount == 0:
                break
            key, amount = smaller_key, self.units * factor
        return key, amount


@lru_cache(maxsize=1)
def equivalents(path: Path = DATA) -> tuple[Equivalent, ...]:
    rows = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(Equivalent(**{**row, "per_unit": float(row["per_unit"])}) for row in rows)


def compare(gco2e_g: float, energy_wh: float, water_ml: float) -> list[Comparison]:
    """Each known equivalent of these amounts (grams CO2e, Wh, ml)."""
    amounts = {"gco2e": gco2e_g, "energy": energy_wh, "water": water_ml}
    return [Comparison(e, amounts[e.criterion] / e.per_unit) for e in equivalents() if e.criterion in amounts]
