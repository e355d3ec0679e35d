"""Summable usage figures of a set of ledger rows: one type for the employee's own view
(`gateway.ledger.own_usage`) and the committee's cube (`gateway.inventory.usage`).

Money and carbon stay exact integers (micro-euros, micro-grams CO2e); energy and water
are floats. Distinct users are not summable and are kept apart by whoever counts them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from gateway.units import MICRO_PER_UNIT


@dataclass(frozen=True, slots=True)
class Figures:
    """Summable figures of a set of requests."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micro_eur: int = 0
    energy_wh: float = 0.0
    gwp_ug: int = 0
    gwp_market_ug: int = 0
    water_ml: float = 0.0
    market_missing_requests: int = 0
    """Requests without a market-based factor: `gwp_market_ug` does not cover them."""
    refused: int = 0
    """Of `requests`, those not served (refused or failed): they carry no footprint."""

    def __add__(self, other: Figures) -> Figures:
        return Figures(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @classmethod
    def total(cls, parts: Iterable[Figures]) -> Figures:
        """The sum of `parts` (zero figures when there are none)."""
        return sum(parts, cls())

    @property
    def served(self) -> int:
        """Requests answered by a model: the denominator of every per-request figure."""
        return self.requests - self.refused

    @property
    def cost_eur(self) -> float:
        return self.cost_micro_eur / MICRO_PER_UNIT

    @property
    def gco2e(self) -> float:
        return self.gwp_ug / MICRO_PER_UNIT

    @property
    def market_available(self) -> bool:
        """Whether the market-based sum covers every served request. Refused requests carry
        no footprint, hence no factor; more requests without one than refusals means some
        answered request had none (with some models declaring a factor and others not, a
        cut stream of a declared model can hide one: the count is given beside it)."""
        return self.market_missing_requests <= self.refused

    @property
    def gco2e_market(self) -> float | None:
        """Market-based CO2e, or None ("not available") when a served request had no factor."""
        return self.gwp_market_ug / MICRO_PER_UNIT if self.market_available else None
