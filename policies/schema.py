"""The policy file's schema (pydantic): use cases, ordered rules, fallback chains.

Structural validation only; cross-references (models, use cases, reachability,
fallback cycles) are checked in `policies.check`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from policies.messages import say
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Tier = Literal["small", "medium", "large"]
TIERS: tuple[Tier, ...] = ("small", "medium", "large")
TIER_RANK: dict[str, int] = {tier: rank for rank, tier in enumerate(TIERS)}
Status = Literal["active", "pilot", "suspended", "retired"]
ExplicitModelPolicy = Literal["downgrade", "refuse"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SCHEMA_PATH = Path(__file__).with_name("policy.schema.json")

_ID = r"^[a-z][a-z0-9_-]{0,63}$"
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UseCase(_Strict):
    """A registered use case: what it is, who owns it, which models may serve it."""

    id: str = Field(pattern=_ID)
    name: str
    description: str = ""
    owner: str = ""
    tier: Tier = Field(description="The capability tier the use case needs; `auto` routes here.")
    allowed_tiers: list[Tier] | None = Field(
        default=None,
        description="Tiers a caller may name explicitly; default: this tier and the smaller ones.",
    )
    allowed_models: list[str] = Field(
        default_factory=list, description="Models a caller may name explicitly, whatever their tier."
    )
    max_tokens: int | None = Field(default=None, gt=0, description="Cap on max_tokens for this use case.")
    status: Status = "active"
    on_disallowed_model: ExplicitModelPolicy | None = Field(
        default=None, description="What to do with a caller who names a model not allowed here."
    )
    examples: list[str] = Field(
        default_factory=list, description="Example prompts (French and English) the classifier learns from."
    )

    def explicit_tiers(self) -> frozenset[str]:
        """Tiers a caller may name explicitly for this use case."""
        if self.allowed_tiers is not None:
            return frozenset(self.allowed_tiers)
        return frozenset(t for t in TIERS if TIER_RANK[t] <= TIER_RANK[self.tier])


class TimeWindow(_Strict):
    """Local time window [after, before); wraps past midnight when after > before."""

    after: str = "00:00"
    before: str = "24:00"
    weekdays: list[Weekday] | None = None

    @field_validator("after", "before")
    @classmethod
    def _clock(cls, value: str) -> str:
        if value != "24:00" and not _CLOCK.match(value):
            raise ValueError(say("policy.check.clock_format"))
        return value

    def minutes(self) -> tuple[int, int]:
        """(after, before) as minutes since midnight."""
        def to_min(clock: str) -> int:
            hours, minutes = clock.split(":")
            return int(hours) * 60 + int(minutes)

        return to_min(self.after), to_min(self.before)


class Conditions(_Strict):
    """All present conditions must hold (AND); a list matches any of its items (OR)."""

    use_case: list[str] | None = None
    department: list[str] | None = None
    role: list[str] | None = None
    requested_model: list[str] | None = Field(
        default=None, description="Model names as the caller sent them; `auto` included."
    )
    min_prompt_tokens: int | None = Field(default=None, ge=0)
    max_prompt_tokens: int | None = Field(default=None, ge=0)
    time: TimeWindow | None = None

    @model_validator(mode="after")
    def _token_range(self) -> "Conditions":
        low, high = self.min_prompt_tokens, self.max_prompt_tokens
        if low is not None and high is not None and low > high:
            raise ValueError(say("policy.check.prompt_tokens_order"))
        return self


class RouteTarget(_Strict):
    """Route to a tier (its preferred model) or to one named model."""

    tier: Tier | None = None
    model: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "RouteTarget":
        if (self.tier is None) == (self.model is None):
            raise ValueError(say("policy.check.route_target"))
        return self


class Deny(_Strict):
    message: str


class Rule(_Strict):
    """One rule: if every condition in `when` holds, its actions apply and evaluation stops."""

    id: str = Field(pattern=_ID)
    description: str = ""
    when: Conditions = Field(default_factory=Conditions)
    route: RouteTarget | None = None
    deny: Deny | None = None
    cap: int | None = Field(default=None, gt=0, description="Cap on max_tokens.")
    allow_explicit: bool = Field(
        default=False, description="A caller may name any catalogue model for the matched requests."
    )

    @model_validator(mode="after")
    def _actions(self) -> "Rule":
        if self.deny is not None and (self.route or self.cap or self.allow_explicit):
            raise ValueError(say("policy.check.deny_alone"))
        if self.deny is None and self.route is None and self.cap is None and not self.allow_explicit:
            raise ValueError(say("policy.check.rule_action"))
        return self


LowConfidence = Literal["weighted_tier", "default", "smallest_of_top"]


class Classifier(_Strict):
    """How a prompt's use case is recognised, and what an uncertain recognition does."""

    threshold: float = Field(
        default=0.45, ge=0.0, le=1.0, description="Below it, the prediction is uncertain and `low_confidence` applies."
    )
    low_confidence: LowConfidence = Field(
        default="default",
        description="An uncertain prediction goes to: `weighted_tier`, the tier of the top candidates weighted "
        "by their probability (the use case recorded is the most likely one); `default`, the "
        "`default_use_case`; `smallest_of_top`, the use case of smallest tier among the top candidates.",
    )
    top_candidates: int = Field(
        default=2, ge=2, le=5, description="How many of the most likely use cases `weighted_tier` and `smallest_of_top` weigh."
    )
    default_use_case: str | None = Field(
        default=None, description="The use case of `low_confidence: default`; the general use case when absent."
    )
    task_prior: bool = Field(
        default=True,
        description="Offer the shipped task-type prior (trained on a public task dataset) to the classifier "
        "as extra features; it is weighted by how well it tells this policy's examples apart, so it "
        "counts only for use cases it knows. `false`: the policy's examples alone.",
    )


class Defaults(_Strict):
    general_use_case: str = "general"
    unknown_use_case: Literal["refuse", "general"] = "refuse"
    blocked_use_case: Literal["refuse", "general"] = Field(
        default="refuse",
        description="A use case the committee has not approved or has suspended, rejected or retired: "
        "refuse it (403 with the committee's reason) or route it to the general use case.",
    )
    on_disallowed_model: ExplicitModelPolicy = "downgrade"
    timezone: str = "Europe/Paris"


class Policy(_Strict):
    """A whole routing policy file."""

    version_label: str = ""
    description: str = ""
    defaults: Defaults = Field(default_factory=Defaults)
    classifier: Classifier = Field(default_factory=Classifier)
    aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Model names callers may send, mapped to 'auto', a tier, or a catalogue model.",
    )
    use_cases: list[UseCase] = Field(min_length=1)
    rules: list[Rule] = Field(default_factory=list)
    fallbacks: dict[Tier, list[str]] = Field(
        default_factory=dict,
        description="Per tier, the ordered chain: model names or 'tier:<name>' to continue with a tier's chain.",
    )

    def use_case(self, use_case_id: str) -> UseCase | None:
        return next((uc for uc in self.use_cases if uc.id == use_case_id), None)


def json_schema() -> dict:
    """The JSON Schema editors use to validate a policy file."""
    schema = Policy.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Sobria routing policy"
    return schema


def write_json_schema(path: Path = SCHEMA_PATH) -> None:
    path.write_text(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
