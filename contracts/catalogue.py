"""The model catalogue as the routing policy sees it (implemented by `gateway.providers.catalogue`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from estimators.impacts import ImpactProfile


class ModelSpec(Protocol):
    """One deployment: its name, tier, price and impact profile."""

    @property
    def name(self) -> str: ...

    @property
    def tier(self) -> str: ...

    @property
    def max_output_tokens(self) -> int: ...

    @property
    def impact(self) -> ImpactProfile: ...

    def cost_micro_eur(self, input_tokens: int, output_tokens: int) -> int: ...


class Catalogue(Protocol):
    """The deployments a policy may name, by tier, with the catalogue's fallback chains."""

    @property
    def fallbacks(self) -> dict[str, list[str]]: ...

    def __contains__(self, name: object) -> bool: ...

    def get(self, name: str) -> ModelSpec | None: ...

    def all(self) -> Sequence[ModelSpec]: ...

    def in_tier(self, tier: str) -> Sequence[ModelSpec]: ...

    def preferred(self, tier: str) -> ModelSpec: ...
