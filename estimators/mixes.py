"""Electricity mixes by zone: one source per zone for every criterion (the factor set's).

A zone is an ISO 3166-1 alpha-3 code in upper case, or EcoLogits' "WOR" world average.
An unknown zone is refused (`UnknownZone`), never silently replaced by the world
average: the catalogue is validated at load, so the gateway refuses to start on one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ecologits.electricity_mix_repository import electricity_mixes

from estimators.factors import CURRENT_VERSION, load_factor_set


class UnknownZone(ValueError):
    """A zone with no electricity mix in the factor set's source."""


@dataclass(frozen=True, slots=True)
class ZoneMix:
    """Impact factors of one kWh drawn from a zone's grid (location-based), one source."""

    zone: str
    gwp_kg_per_kwh: float
    adpe_kgsbeq_per_kwh: float
    pe_mj_per_kwh: float
    wue_l_per_kwh: float
    source: str
    release: str
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "zone": self.zone,
            "gwp_kg_per_kwh": self.gwp_kg_per_kwh,
            "adpe_kgsbeq_per_kwh": self.adpe_kgsbeq_per_kwh,
            "pe_mj_per_kwh": self.pe_mj_per_kwh,
            "wue_l_per_kwh": self.wue_l_per_kwh,
            "source": self.source,
            "release": self.release,
        }


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """Every zone the electricity source has a mix for."""
    return frozenset(mix.zone for mix in electricity_mixes.list_electricity_mixes())


def check_zone(zone: str) -> str:
    """`zone` itself when it has a mix; `UnknownZone` naming it otherwise (case matters: 'FRA', not 'fra')."""
    if zone not in known_zones():
        hint = f" (did you mean {zone.upper()!r}?)" if zone.upper() in known_zones() else ""
        raise UnknownZone(f"zone {zone!r} has no electricity mix{hint}; use an ISO 3166-1 alpha-3 code or 'WOR'")
    return zone


@lru_cache(maxsize=512)
def zone_mix(zone: str, version: str = CURRENT_VERSION) -> ZoneMix:
    """The mix of `zone` from factor set `version`'s electricity source (all criteria alike)."""
    check_zone(zone)
    found = electricity_mixes.find_electricity_mix(zone=zone)
    assert found is not None
    meta = load_factor_set(version)["electricity"]
    return ZoneMix(
        zone=zone,
        gwp_kg_per_kwh=float(found.gwp),
        adpe_kgsbeq_per_kwh=float(found.adpe),
        pe_mj_per_kwh=float(found.pe),
        wue_l_per_kwh=float(found.wue),
        source=" ".join(str(meta["source"]).split()),
        release=str(meta["release"]),
        warnings=tuple(w.code for w in (found.warnings or ())),
    )
