"""Electricity mixes by zone: EcoLogits' data, with the factor set's overrides.

A zone is an ISO 3166-1 alpha-3 code (or EcoLogits' "WOR" world average). The
location-based GWP is the grid's; a market-based GWP is only reported when the
operator declares one for the deployment (GHG Protocol Scope 2 dual reporting).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ecologits.electricity_mix_repository import electricity_mixes

from estimators.factors import factor_set

ECOLOGITS_SOURCE = "EcoLogits 0.11.3 electricity mixes (ADEME Base Empreinte / Ember based)"


@dataclass(frozen=True, slots=True)
class ZoneMix:
    """Impact factors of one kWh drawn from a zone's grid."""

    zone: str
    gwp_kg_per_kwh: float
    adpe_kgsbeq_per_kwh: float
    pe_mj_per_kwh: float
    wue_l_per_kwh: float
    source: str
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "zone": self.zone,
            "gwp_kg_per_kwh": self.gwp_kg_per_kwh,
            "adpe_kgsbeq_per_kwh": self.adpe_kgsbeq_per_kwh,
            "pe_mj_per_kwh": self.pe_mj_per_kwh,
            "wue_l_per_kwh": self.wue_l_per_kwh,
            "source": self.source,
        }


@lru_cache(maxsize=512)
def zone_mix(zone: str) -> ZoneMix:
    """The mix of `zone`; an unknown zone falls back to the world average, with a warning."""
    found = electricity_mixes.find_electricity_mix(zone=zone)
    warnings: tuple[str, ...] = ()
    if found is None:
        warnings = (f"zone {zone!r} has no electricity mix; world average (WOR) used",)
        found = electricity_mixes.find_electricity_mix(zone="WOR")
        zone = "WOR"
    if found is None:
        raise LookupError("EcoLogits ships no world-average electricity mix (WOR)")
    override = factor_set().get("zone_overrides", {}).get(zone, {})
    source = ECOLOGITS_SOURCE + (f"; override: {override['source']}" if override else "")
    return ZoneMix(
        zone=zone,
        gwp_kg_per_kwh=float(override.get("gwp_kg_per_kwh", found.gwp)),
        adpe_kgsbeq_per_kwh=float(override.get("adpe_kgsbeq_per_kwh", found.adpe)),
        pe_mj_per_kwh=float(override.get("pe_mj_per_kwh", found.pe)),
        wue_l_per_kwh=float(override.get("wue_l_per_kwh", found.wue)),
        source=source,
        warnings=warnings + tuple(w.code for w in found.warnings),
    )
