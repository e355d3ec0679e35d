"""A use case record as the committee writes it: identity, purpose, risk, data, models,
oversight and lifecycle. One pydantic document, stored whole and versioned."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal[
    "draft", "submitted", "under_review", "approved", "approved_with_conditions", "rejected", "suspended", "retired"
]
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]
SERVING: frozenset[str] = frozenset({"approved", "approved_with_conditions"})
RiskClass = Literal["unclassified", "prohibited", "high", "limited", "minimal"]
DataClassification = Literal["public", "internal", "confidential", "secret"]
ReviewMode = Literal["none", "spot_check", "every_output", "human_decides"]
AiActRole = Literal["deployer", "provider"]
Stage = Literal["idea", "pilot", "production"]
Tier = Literal["individual", "standard_low_risk"]

_ID = r"^[a-z][a-z0-9_-]{0,63}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Identity(_Section):
    name: str
    summary: str = ""
    owner: str = Field("", description="Accountable owner (a person or role)")
    department: str = ""
    contact: str = ""
    ai_act_role: AiActRole = Field("deployer", description="The organisation's AI Act role for this use case")
    stage: Stage = Field("idea", description="Development stage")
    operational_date: date | None = Field(None, description="When it went (or goes) into service")


class Purpose(_Section):
    problem: str = ""
    expected_benefit: str = ""
    users: str = ""
    affected_persons: str = ""
    out_of_scope: list[str] = Field(default_factory=list)
    prohibited_uses: list[str] = Field(default_factory=list)
    why_generative_ai: str = Field("", description="Why generative AI rather than a lighter tool (AFNOR Spec 2314)")


class Risk(_Section):
    ai_act_class: RiskClass = "unclassified"
    annex_iii_point: str | None = Field(None, description="Annex III point, e.g. '4(a)', when high-risk")
    profiling: bool = False
    rationale: str = ""
    classified_by: str | None = None
    classified_at: datetime | None = None
    proposed_class: RiskClass | None = Field(None, description="What the guided classification proposed")
    proposal_reasons: list[str] = Field(default_factory=list)
    article_6_3_justification: str = Field(
        "", description="Why an Annex III use case is not high-risk (Art. 6(3): narrow procedural task...)"
    )
    tier: Tier = Field("individual", description="'standard_low_risk': a common low-risk use reported collectively")


class Data(_Section):
    input_classification: DataClassification = "internal"
    personal_data: bool = False
    special_category_data: bool = False
    dpia_reference: str | None = None
    processing_record_reference: str | None = None
    fria_reference: str | None = Field(None, description="Fundamental rights impact assessment (AI Act Art. 27)")
    prompt_retention_days: int = Field(0, ge=0)
    metadata_retention_days: int = Field(365, ge=0)


class Models(_Section):
    allowed_models: list[str] = Field(default_factory=list)
    budget_eur_month: float | None = Field(None, ge=0)
    budget_gco2e_kg_month: float | None = Field(None, ge=0)


class Oversight(_Section):
    human_review: ReviewMode = "none"
    user_notice: str = ""
    works_council_reference: str | None = None


class Lifecycle(_Section):
    status: Status = "draft"
    decision: str = ""
    conditions: list[str] = Field(default_factory=list)
    decided_by: str | None = None
    decided_on: date | None = None
    next_review: date | None = None
    provisional: bool = Field(
        False, description="Seeded from the routing policy and served until the committee's first decision"
    )


class UseCaseRecord(_Section):
    """The whole record of one use case."""

    id: str = Field(pattern=_ID)
    identity: Identity
    purpose: Purpose = Field(default_factory=Purpose)
    risk: Risk = Field(default_factory=Risk)
    data: Data = Field(default_factory=Data)
    models: Models = Field(default_factory=Models)
    oversight: Oversight = Field(default_factory=Oversight)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)


class StoredUseCase(BaseModel):
    """A record as stored: its version and who changed it last."""

    record: UseCaseRecord
    version: int
    updated_at: datetime
    updated_by: str
