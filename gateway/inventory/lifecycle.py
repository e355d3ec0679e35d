"""The lifecycle of a use case: which status changes are allowed, and what approval needs.

Approval is where the committee's duties bite: a confirmed classification with its
rationale, the justification for generative AI (AFNOR Spec 2314), a next review
date, and, for a high-risk use case or one whose answers point to an Annex III area,
the Annex III point, a DPIA, human review and (for work decisions) the works council.
An Annex III use case the committee does not class as high-risk needs its Article 6(3)
justification; a high-risk use case deployed for credit or insurance decisions needs a
fundamental rights impact assessment (Art. 27); a use case in production needs its
operational date; only a minimal or limited one may join the "standard low-risk use" tier.
"""

from __future__ import annotations

from contracts.errors import Conflict, Incomplete
from gateway.inventory.model import SERVING, UseCaseRecord

TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"submitted", "retired"}),
    "submitted": frozenset({"under_review", "draft", "retired"}),
    "under_review": frozenset({"approved", "approved_with_conditions", "rejected", "draft"}),
    "approved": frozenset({"approved_with_conditions", "suspended", "under_review", "retired"}),
    "approved_with_conditions": frozenset({"approved", "suspended", "under_review", "retired"}),
    "suspended": frozenset({"approved", "approved_with_conditions", "under_review", "retired"}),
    "rejected": frozenset({"draft", "retired"}),
    "retired": frozenset(),
}
NEEDS_DECISION_TEXT = frozenset({"approved_with_conditions", "rejected", "suspended", "retired"})
PROVISIONAL_STATUSES = frozenset({"draft", "submitted", "under_review"})
FRIA_POINTS = frozenset({"5(b)", "5(c)"})


def allowed(current: str, target: str, provisional: bool = False) -> bool:
    """Whether `current` may move to `target`; a provisionally served use case may also be suspended."""
    if provisional and current in PROVISIONAL_STATUSES and target == "suspended":
        return True
    return target in TRANSITIONS.get(current, frozenset())


def serves(status: str, provisional: bool) -> bool:
    """Whether requests for a use case in this state are served: approved, or seeded and not yet decided."""
    return status in SERVING or (provisional and status in PROVISIONAL_STATUSES)


def missing_for_approval(record: UseCaseRecord) -> list[str]:
    """Fields that must be filled before this record can be approved (empty: it can be)."""
    risk, data, oversight = record.risk, record.data, record.oversight
    missing: list[str] = []
    if risk.ai_act_class == "unclassified" or not risk.classified_by:
        missing.append("risk.ai_act_class")
    if not risk.rationale.strip():
        missing.append("risk.rationale")
    if not record.purpose.why_generative_ai.strip():
        missing.append("purpose.why_generative_ai")
    if not record.identity.owner.strip():
        missing.append("identity.owner")
    if record.lifecycle.next_review is None:
        missing.append("lifecycle.next_review")
    if (data.personal_data or data.special_category_data) and not data.processing_record_reference:
        missing.append("data.processing_record_reference")
    if record.identity.stage == "production" and record.identity.operational_date is None:
        missing.append("identity.operational_date")
    high = risk.ai_act_class == "high" or risk.proposed_class == "high"
    points_to_annex = bool(risk.annex_iii_point) or "classify.reason.derogation" in risk.proposal_reasons
    if points_to_annex and not high and not risk.article_6_3_justification.strip():
        missing.append("risk.article_6_3_justification")
    if risk.tier == "standard_low_risk" and (risk.ai_act_class not in {"minimal", "limited"}
                                             or data.special_category_data or risk.profiling):
        missing.append("risk.tier")
    if high and record.identity.ai_act_role == "deployer" and risk.annex_iii_point in FRIA_POINTS \
            and not data.fria_reference:
        missing.append("data.fria_reference")
    if high:
        if not risk.annex_iii_point:
            missing.append("risk.annex_iii_point")
        if not data.dpia_reference:
            missing.append("data.dpia_reference")
        if oversight.human_review == "none":
            missing.append("oversight.human_review")
        if (risk.annex_iii_point or "").startswith("4") and not oversight.works_council_reference:
            missing.append("oversight.works_council_reference")
    return missing


def check_transition(record: UseCaseRecord, target: str, decision: str, conditions: list[str]) -> None:
    """Raise a domain error when `record` may not move to `target`: Conflict (the status forbids it) or Incomplete."""
    current = record.lifecycle.status
    if not allowed(current, target, record.lifecycle.provisional):
        raise Conflict("transition_not_allowed", current=current, target=target,
                           allowed=", ".join(sorted(TRANSITIONS.get(current, ()))) or "-")
    if target in NEEDS_DECISION_TEXT and not decision.strip():
        raise Incomplete("decision_required", param="decision", target=target)
    if target == "approved_with_conditions" and not conditions:
        raise Incomplete("conditions_required", param="conditions")
    if target in SERVING:
        if record.risk.ai_act_class == "prohibited" or record.risk.proposed_class == "prohibited":
            raise Conflict("prohibited_use_case", use_case=record.id)
        missing = missing_for_approval(record)
        if missing:
            raise Incomplete("approval_incomplete", use_case=record.id, missing=", ".join(missing))
