"""The guided classification proposes the AI Act class the Act's order of tests gives."""

from __future__ import annotations

from gateway.inventory.classification import Answers, propose


def answers(**overrides) -> Answers:
    base = {"domain": "none", "decides_about_people": False, "profiling": False}
    return Answers(**{**base, **overrides})


def test_recruitment_decisions_are_high_risk_under_annex_iii_4a():
    proposal = propose(answers(domain="recruitment", decides_about_people=True))
    assert (proposal.risk_class, proposal.annex_iii_point, proposal.points_to_annex_iii) == ("high", "4(a)", True)


def test_credit_scoring_with_profiling_is_high_risk_even_for_a_narrow_task():
    proposal = propose(answers(domain="credit", decides_about_people=True, profiling=True, narrow_procedural_task=True))
    assert (proposal.risk_class, proposal.annex_iii_point) == ("high", "5(b)")


def test_a_narrow_procedural_task_in_an_annex_area_is_not_high_risk_but_still_points_there():
    proposal = propose(answers(domain="education", decides_about_people=True, narrow_procedural_task=True))
    assert proposal.risk_class == "minimal" and proposal.points_to_annex_iii


def test_a_prohibited_practice_wins_over_everything():
    proposal = propose(answers(domain="work_decisions", practices=["emotion_recognition_work_or_education"]))
    assert proposal.risk_class == "prohibited"


def test_a_chat_assistant_has_transparency_duties():
    assert propose(answers(interacts_with_people=True)).risk_class == "limited"


def test_internal_drafting_help_is_minimal_risk_with_a_reason_in_both_languages():
    proposal = propose(answers())
    assert proposal.risk_class == "minimal"
    assert "minimal" in proposal.reasons[0].render("en") and "minimal" in proposal.reasons[0].render("fr")
