"""Guided AI Act classification: a few questions, a proposed class and its reasons.

The questions follow the Act's structure: prohibited practices (Article 5) first, then
the Annex III areas, where a system that decides about people is high-risk unless the
Article 6(3) derogation applies (never with profiling), then the Article 50
transparency cases; everything else is minimal. The committee confirms or overrides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.i18n import translate

Domain = Literal[
    "none", "biometrics", "critical_infrastructure", "education", "recruitment", "work_decisions",
    "public_benefits", "credit", "insurance", "emergency_services", "law_enforcement", "migration",
    "justice", "elections",
]
ProhibitedPractice = Literal[
    "manipulation", "exploiting_vulnerabilities", "social_scoring", "crime_prediction_by_profiling",
    "facial_image_scraping", "emotion_recognition_work_or_education", "sensitive_biometric_categorisation",
    "realtime_remote_biometric_identification",
]

ANNEX_III_POINTS: dict[str, str] = {
    "biometrics": "1",
    "critical_infrastructure": "2",
    "education": "3",
    "recruitment": "4(a)",
    "work_decisions": "4(b)",
    "public_benefits": "5(a)",
    "credit": "5(b)",
    "insurance": "5(c)",
    "emergency_services": "5(d)",
    "law_enforcement": "6",
    "migration": "7",
    "justice": "8(a)",
    "elections": "8(b)",
}


class Answers(BaseModel):
    """The guided questions. Every answer is needed; 'none' and False are real answers."""

    model_config = ConfigDict(extra="forbid")

    domain: Domain = Field(description="The area the outputs are used in (Annex III areas, or none)")
    decides_about_people: bool = Field(
        description="Outputs are used to take or materially influence decisions about natural persons"
    )
    profiling: bool = Field(description="Evaluates personal aspects of people (performance, reliability, behaviour...)")
    narrow_procedural_task: bool = Field(
        False, description="Only a narrow procedural or preparatory task that does not replace human assessment"
    )
    practices: list[ProhibitedPractice] = Field(default_factory=list, description="Any Article 5 practice involved")
    interacts_with_people: bool = Field(False, description="People converse with it directly")
    publishes_generated_content: bool = Field(False, description="Generated text or media is published to the public")


@dataclass(frozen=True, slots=True)
class Reason:
    key: str
    params: dict[str, str] = field(default_factory=dict)

    def render(self, language: str = "en") -> str:
        return translate(self.key, language, **self.params)


@dataclass(frozen=True, slots=True)
class Proposal:
    """The proposed AI Act class, the Annex III point when high-risk, and why."""

    risk_class: str
    annex_iii_point: str | None
    profiling: bool
    points_to_annex_iii: bool
    reasons: tuple[Reason, ...]


def propose(answers: Answers) -> Proposal:
    """Apply the Act's order of tests to the answers."""
    reasons: list[Reason] = []
    point = ANNEX_III_POINTS.get(answers.domain)
    in_annex = point is not None and (answers.decides_about_people or answers.profiling)
    if answers.practices:
        reasons.append(Reason("classify.reason.prohibited", {"practices": ", ".join(answers.practices)}))
        return Proposal("prohibited", None, answers.profiling, in_annex, tuple(reasons))
    if in_annex:
        if answers.profiling:
            reasons.append(Reason("classify.reason.annex_iii_profiling", {"point": point or ""}))
            return Proposal("high", point, True, True, tuple(reasons))
        if not answers.narrow_procedural_task:
            reasons.append(Reason("classify.reason.annex_iii", {"point": point or ""}))
            return Proposal("high", point, False, True, tuple(reasons))
        reasons.append(Reason("classify.reason.derogation", {"point": point or ""}))
    elif point is not None:
        reasons.append(Reason("classify.reason.annex_area_no_decision", {"point": point}))
    if answers.interacts_with_people or answers.publishes_generated_content:
        reasons.append(Reason("classify.reason.transparency"))
        return Proposal("limited", None, answers.profiling, in_annex, tuple(reasons))
    reasons.append(Reason("classify.reason.minimal"))
    return Proposal("minimal", None, answers.profiling, in_annex, tuple(reasons))
