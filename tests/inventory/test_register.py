"""The register: lifecycle transitions (allowed and refused), approval rules, versions, import/export, drift."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from contracts.errors import Conflict, DomainError, Incomplete, Refused
from gateway.edge.errors import from_domain
from gateway.inventory import exchange
from gateway.inventory.classification import Answers
from gateway.inventory.drift import drift
from gateway.inventory.lifecycle import missing_for_approval
from gateway.inventory.model import Identity, Purpose, UseCaseRecord

REVIEW = date(2027, 6, 1)


def record(use_case_id: str = "cv-screening") -> UseCaseRecord:
    return UseCaseRecord(
        id=use_case_id,
        identity=Identity(name="CV pre-screening", owner="HR director", department="hr", contact="hr@example.fr"),
        purpose=Purpose(problem="Too many applications", why_generative_ai="Free-text CVs in many formats"),
    )


async def submitted(register, use_case_id: str = "cv-screening") -> None:
    await register.create(record(use_case_id), "alice")
    await register.transition(use_case_id, "submitted", "alice")
    await register.transition(use_case_id, "under_review", "committee-chair")


async def test_a_new_use_case_starts_as_a_draft_whatever_the_body_says(register):
    body = record().model_copy(update={"lifecycle": record().lifecycle.model_copy(update={"status": "approved"})})
    stored = await register.create(body, "alice")
    assert stored.record.lifecycle.status == "draft" and stored.version == 1


async def test_a_draft_cannot_jump_to_approved(register):
    await register.create(record(), "alice")
    with pytest.raises(DomainError) as refused:
        await register.transition("cv-screening", "approved", "bob")
    assert from_domain(refused.value).status == 409 and refused.value.code == "transition_not_allowed"


async def test_a_retired_use_case_cannot_come_back(register):
    await register.create(record(), "alice")
    await register.transition("cv-screening", "retired", "bob", decision="abandoned")
    with pytest.raises(DomainError) as refused:
        await register.transition("cv-screening", "draft", "bob")
    assert refused.value.code == "transition_not_allowed"


async def test_suspension_needs_a_decision_text(register):
    await submitted(register)
    await register.classify("cv-screening", Answers(domain="none", decides_about_people=False, profiling=False),
                            "bob", "minimal", "internal help only")
    await register.transition("cv-screening", "approved", "bob", next_review=REVIEW)
    with pytest.raises(DomainError) as refused:
        await register.transition("cv-screening", "suspended", "bob")
    assert refused.value.code == "decision_required"


async def test_annex_iii_answers_block_approval_until_the_high_risk_fields_are_filled(register):
    await submitted(register)
    answers = Answers(domain="recruitment", decides_about_people=True, profiling=False)
    await register.classify("cv-screening", answers, "bob", "minimal", "we think it is only a helper")
    with pytest.raises(DomainError) as refused:
        await register.transition("cv-screening", "approved", "bob", next_review=REVIEW)
    assert refused.value.code == "approval_incomplete"
    for field in ("data.dpia_reference", "oversight.human_review", "oversight.works_council_reference"):
        assert field in refused.value.params["missing"]


async def test_a_complete_high_risk_record_can_be_approved_with_conditions(register):
    await submitted(register)
    await register.classify("cv-screening", Answers(domain="recruitment", decides_about_people=True, profiling=True),
                            "bob", "high", "shortlisting candidates is Annex III 4(a)")
    current = (await register.get("cv-screening")).record
    filled = current.model_copy(update={
        "data": current.data.model_copy(update={"dpia_reference": "DPIA-2026-12", "personal_data": True,
                                               "processing_record_reference": "RT-HR-7"}),
        "oversight": current.oversight.model_copy(update={"human_review": "human_decides",
                                                         "works_council_reference": "CSE-2026-11-05"}),
    })
    await register.update("cv-screening", filled, "alice")
    stored = await register.transition("cv-screening", "approved_with_conditions", "bob", decision="pilot",
                                       conditions=["recruiter reads every CV"], next_review=REVIEW)
    assert stored.record.lifecycle.status == "approved_with_conditions"
    assert stored.record.risk.annex_iii_point == "4(a)"


async def test_a_prohibited_use_case_is_never_approved(register):
    await submitted(register)
    await register.classify("cv-screening", Answers(domain="work_decisions", decides_about_people=True,
                                                    profiling=True, practices=["emotion_recognition_work_or_education"]),
                            "bob", "prohibited", "emotion recognition at work")
    with pytest.raises(DomainError) as refused:
        await register.transition("cv-screening", "approved", "bob", next_review=REVIEW)
    assert refused.value.code == "prohibited_use_case"


async def test_every_change_is_a_version_attributed_to_its_author_and_audited(register, audit):
    await submitted(register)
    history = await register.history("cv-screening")
    assert [(v["version"], v["actor"], v["change"]) for v in history] == [
        (1, "alice", "create"), (2, "alice", "transition"), (3, "committee-chair", "transition")]
    actions = [e.action for e in await audit.entries(target_prefix="use_case:cv-screening")]
    assert actions == ["use_case.transition", "use_case.transition", "use_case.create"]
    assert (await audit.verify()).ok


async def test_a_stale_version_is_refused(register):
    await register.create(record(), "alice")
    with pytest.raises(Conflict) as refused:
        await register.update("cv-screening", record(), "bob", expected_version=7)
    assert refused.value.code == "version_conflict" and from_domain(refused.value).status == 409


async def test_seeding_never_approves_first_start_drafts_serve_provisionally_later_ones_do_not(register, audit):
    first = [SimpleNamespace(id="translation", name="Translation", status="active"),
             SimpleNamespace(id="legacy", name="Legacy", status="retired")]
    assert await register.seed_from_policy(first) == ["translation", "legacy"]
    assert await register.seed_from_policy([*first, SimpleNamespace(id="new", name="New", status="active")]) == ["new"]
    statuses = await register.statuses()
    assert {k: (v[0], v[2]) for k, v in statuses.items()} == {
        "translation": ("draft", True), "legacy": ("retired", False), "new": ("draft", False)}
    seeded = (await register.require("translation")).record
    assert "lifecycle.next_review" in missing_for_approval(seeded) and "risk.ai_act_class" in missing_for_approval(seeded)
    assert {e.actor for e in await audit.entries()} == {"system"}


async def test_a_provisional_draft_can_be_suspended_and_reinstating_it_needs_a_full_approval(register):
    await register.seed_from_policy([SimpleNamespace(id="translation", name="Translation", status="active")])
    suspended = await register.transition("translation", "suspended", "chair", "complaint")
    assert suspended.record.lifecycle.status == "suspended" and not suspended.record.lifecycle.provisional
    with pytest.raises(Incomplete) as refused:
        await register.transition("translation", "approved", "chair")
    assert refused.value.code == "approval_incomplete"


@pytest.mark.parametrize("fmt", ["yaml", "json", "csv"])
async def test_export_then_import_gives_back_the_same_register(register, fmt):
    await submitted(register, "cv-screening")
    await register.create(record("minutes"), "alice")
    records = [s.record for s in await register.list()]
    assert exchange.load(exchange.dump(records, fmt), fmt) == records
    assert await register.import_records(records, "alice") == {"created": 0, "updated": 0, "unchanged": 2}


def test_drift_names_each_disagreement():
    policy = [SimpleNamespace(id="translation", status="active"), SimpleNamespace(id="code", status="active"),
              SimpleNamespace(id="old", status="retired")]
    policy.append(SimpleNamespace(id="seeded", status="active"))
    register = {"translation": ("approved", "", False), "code": ("suspended", "leak", False),
                "old": ("approved", "", False), "orphan": ("approved", "", False), "seeded": ("draft", "", True)}
    assert [(d.use_case, d.key) for d in drift(policy, register)] == [
        ("code", "drift.not_approved"), ("old", "drift.policy_off"), ("seeded", "drift.provisional"),
        ("orphan", "drift.not_in_policy")]


async def test_the_status_gate_refuses_unapproved_and_unknown_use_cases_with_the_reason(register):
    from gateway.inventory.gate import StatusGate

    gate = StatusGate(register)
    gate.check("anything")
    await register.create(record(), "alice")
    await gate.refresh()
    for use_case, code in (("cv-screening", "use_case_not_approved"), ("nowhere", "use_case_unregistered")):
        with pytest.raises(Refused) as refused:
            gate.check(use_case)
        answered = from_domain(refused.value)
        assert answered.status == 403 and answered.code == code
        assert use_case in answered.message("fr")


def approvable(**risk: object) -> UseCaseRecord:
    """A minimal-risk record that lacks nothing for approval, with `risk` fields replaced."""
    base = record("meeting-notes")
    return base.model_copy(update={
        "risk": base.risk.model_copy(update={"ai_act_class": "minimal", "classified_by": "committee",
                                             "rationale": "Internal notes, no decision about people", **risk}),
        "lifecycle": base.lifecycle.model_copy(update={"next_review": REVIEW}),
    })


def with_section(found: UseCaseRecord, section: str, **fields: object) -> UseCaseRecord:
    return found.model_copy(update={section: getattr(found, section).model_copy(update=fields)})


def test_the_current_inventory_fields_each_hold_approval_back_until_filled():
    assert missing_for_approval(approvable()) == []
    in_production = with_section(approvable(), "identity", stage="production")
    assert missing_for_approval(in_production) == ["identity.operational_date"]
    assert missing_for_approval(with_section(in_production, "identity", operational_date=date(2026, 9, 1))) == []

    annex_not_high = approvable(annex_iii_point="4(a)")
    assert missing_for_approval(annex_not_high) == ["risk.article_6_3_justification"]
    assert missing_for_approval(approvable(annex_iii_point="4(a)",
                                           article_6_3_justification="Only formats CVs, no ranking")) == []

    assert missing_for_approval(approvable(tier="standard_low_risk")) == []
    assert missing_for_approval(approvable(tier="standard_low_risk", ai_act_class="high")).count("risk.tier") == 1
    assert "risk.tier" in missing_for_approval(approvable(tier="standard_low_risk", profiling=True))


def test_a_deployers_high_risk_credit_use_case_needs_its_fundamental_rights_assessment():
    credit = with_section(with_section(approvable(ai_act_class="high", annex_iii_point="5(b)"), "data",
                                       dpia_reference="AIPD-9"), "oversight", human_review="human_decides")
    assert missing_for_approval(credit) == ["data.fria_reference"]
    assert missing_for_approval(with_section(credit, "data", fria_reference="FRIA-2026-2")) == []
    assert missing_for_approval(with_section(credit, "identity", ai_act_role="provider")) == []


def test_drift_says_each_status_in_the_readers_words():
    policy = [SimpleNamespace(id="code", status="active"), SimpleNamespace(id="old", status="retired"),
              SimpleNamespace(id="seeded", status="active")]
    register = {"code": ("suspended", "leak", False), "old": ("approved", "", False), "seeded": ("draft", "", True)}
    french = {d.use_case: d.render("fr") for d in drift(policy, register)}
    assert "« Suspendu »" in french["code"] and "« retiré »" in french["old"] and "« Brouillon »" in french["seeded"]
    english = {d.use_case: d.render("en") for d in drift(policy, register)}
    assert "'Suspended'" in english["code"] and "'retired'" in english["old"] and "'Draft'" in english["seeded"]
