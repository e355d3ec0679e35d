"""One chat completion in flight: the request as validated, and what the pipeline learns.

A `Flight` starts with the caller and the request and gathers the routing decision,
the budget hold and the timings; the ledger record and the response figures are both
read from it, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.identity.auth import Principal
from gateway.budgets.gate import Hold
from gateway.budgets.store import Amount
from gateway.providers.catalogue import ModelSpec
from policies.decision import RoutingDecision


@dataclass(slots=True)
class ChatRequest:
    """A validated chat completion request, as the pipeline needs it."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool
    max_tokens: int | None
    use_case: str | None
    params: dict[str, Any]
    language: str = "en"
    #: The stream ends with a usage chunk only when the caller asked (`stream_options.include_usage`).
    include_usage: bool = False
    #: The output cap field the caller used (`max_tokens` or `max_completion_tokens`).
    cap_field: str = "max_tokens"


@dataclass(slots=True)
class Outcome:
    """What the caller is told besides the provider's answer: headers and usage.sobria."""

    headers: dict[str, str]
    sobria: dict[str, Any]


@dataclass(slots=True)
class Flight:
    """Everything known about one request in flight; becomes its ledger record."""

    request_id: str
    principal: Principal
    request: ChatRequest
    started_at: datetime
    started: float
    input_tokens_estimate: int
    input_tokens_bound: int = 0
    images: int = 0  # image parts, and their share of `input_tokens_bound` at the tile rule
    image_tokens: int = 0
    choices: int = 1
    prediction_tokens_bound: int = 0  # output a `prediction` may add (rejected predicted tokens are billed)
    usage_source: str | None = None
    decision: RoutingDecision | None = None
    spec: ModelSpec | None = None
    hold: Hold | None = None
    served: str | None = None
    max_tokens: int | None = None
    ttft_ms: float | None = None
    bound: Amount | None = None
    bound_energy_wh: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def input_tokens_bound_for(self, max_image_tokens: int | None) -> int:
        """The input bound on a deployment that bills each image up to `max_image_tokens` (None: the tile rule)."""
        if max_image_tokens is None:
            return self.input_tokens_bound
        return self.input_tokens_bound - self.image_tokens + self.images * max_image_tokens

    @property
    def output_tokens_bound(self) -> int:
        """The most output tokens this request may be billed: every choice at its cap, plus a prediction."""
        return (self.max_tokens or 0) * self.choices + self.prediction_tokens_bound
