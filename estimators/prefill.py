"""The prefill term: what the input tokens of a request cost.

EcoLogits 0.11.3 charges output (decoded) tokens only. Sobria charges each input
token as a fraction `ratio` of an output token of the same model, through the same
EcoLogits model, with the ratio's uncertainty carried into [min, max]. The ratio and
its sources are in the factor set (`prefill`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from estimators.factors import CURRENT_VERSION, load_factor_set


@dataclass(frozen=True, slots=True)
class PrefillRatio:
    """Cost of one input token, in output tokens: low, central and high estimates."""

    min: float
    value: float
    max: float
    source: str


@lru_cache(maxsize=16)
def prefill_ratio(version: str = CURRENT_VERSION) -> PrefillRatio:
    raw = load_factor_set(version)["prefill"]
    ratio = raw["ratio"]
    return PrefillRatio(float(ratio["min"]), float(ratio["value"]), float(ratio["max"]), " ".join(raw["source"].split()))


def equivalent_tokens(input_tokens: int, output_tokens: int, ratio: float) -> float:
    """Output-token equivalent of a request: decoded tokens plus the weighted prompt."""
    return output_tokens + ratio * input_tokens
