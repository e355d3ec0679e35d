"""What the router is asked, and what it answers: `RoutingRequest` -> `RoutingDecision`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from contracts.errors import NotFound, Refused


@dataclass(frozen=True, slots=True)
class RoutingRequest:
    """The facts a policy may look at. `prompt_text` is used to classify, never stored."""

    requested_model: str
    use_case: str | None
    prompt_text: str
    prompt_tokens: int
    department: str
    roles: frozenset[str]
    now: datetime
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Which model answers, why, and under which policy version."""

    model: str
    use_case: str
    rule_id: str
    policy_version: str
    reason: str
    classifier_confidence: float | None = None
    classifier_runner_up: str | None = None
    classifier_runner_up_confidence: float | None = None
    low_confidence: bool = False
    max_tokens_cap: int | None = None
    fallbacks: tuple[str, ...] = field(default_factory=tuple)


class PolicyDenied(Refused):
    """The policy refuses this request; `code` is the OpenAI-shaped error code, `message` the policy's words."""

    def __init__(self, message: str, code: str = "policy_denied", rule_id: str = ""):
        super().__init__(code, "error.policy_denied", detail=message)
        self.message = message
        self.rule_id = rule_id


class UnknownModel(PolicyDenied, NotFound):
    """The request names a model that is neither in the catalogue nor an alias."""
