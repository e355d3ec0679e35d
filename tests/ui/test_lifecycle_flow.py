"""The committee takes a high-risk use case through its whole lifecycle in the pages, in English and French."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from gateway.i18n import translate
from tests.ui.browser import at_both_widths, sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("locale", ["en-GB", "fr-FR"])
def test_a_high_risk_use_case_goes_from_draft_to_retired_from_the_pages(browser, gateway, keys, locale):
    lang = locale[:2]

    def t(key: str, **params: object) -> str:
        return translate(key, lang, **params)

    use_case = f"cv-screening-{lang}"
    context = browser.new_context(locale=locale)
    page = context.new_page()

    def badge() -> str:
        return page.locator("h1 + p .badge").first.inner_text()

    def decide(target: str, comment: str = "", conditions: str = "", review: str = "") -> None:
        page.get_by_label(t("ui.uc.target")).select_option(target)
        page.get_by_label(t("ui.uc.comment")).fill(comment)
        if conditions:
            page.get_by_label(t("ui.uc.conditions")).fill(conditions)
        if review:
            page.get_by_label(t("register.field.lifecycle.next_review"), exact=True).fill(review)
        page.get_by_role("button", name=t("ui.uc.record_decision")).click()
        page.wait_for_load_state()

    try:
        sign_in(page, gateway.base_url, keys.committee, "/ui/committee/use-cases")
        page.get_by_role("link", name=t("ui.inventory.new")).click()
        page.locator("#f-id").fill(use_case)
        page.locator("#f-identity__name").fill("CV screening")
        page.locator("#f-identity__owner").fill("drh-recrutement@example.fr")
        page.locator("#f-identity__department").fill("hr")
        page.locator("#f-identity__stage").select_option("pilot")
        page.locator("#f-purpose__why_generative_ai").fill("Free-text CVs in French and English")
        page.locator("#f-data__personal_data").check()
        page.locator("#f-data__processing_record_reference").fill("RT-2026-041")
        page.get_by_role("button", name=t("ui.uc.save")).click()
        page.wait_for_url(f"{gateway.base_url}/ui/committee/use-cases/{use_case}")
        assert badge() == t("ui.status.draft")
        assert t("register.field.risk.ai_act_class") in page.locator("#missing-h + ul").inner_text()

        page.get_by_label(t("ui.classify.domain"), exact=True).select_option("recruitment")
        page.get_by_label(t("ui.classify.q.decides_about_people")).check()
        page.get_by_label(t("ui.classify.confirm")).select_option("high")
        page.get_by_label(t("register.field.risk.rationale")).fill("Shortlists candidates: Annex III 4(a)")
        page.get_by_role("button", name=t("ui.classify.run")).click()
        proposal = page.locator("#proposal").inner_text()
        assert t("ui.classify.proposal", risk=t("ui.risk.high")) in proposal and "4(a)" in proposal
        assert "classified=1" in page.url  # post/redirect/get: this reload records nothing twice
        page.reload()
        assert page.locator("#proposal").inner_text() == proposal

        decide("submitted")
        decide("under_review")
        assert badge() == t("ui.status.under_review")
        decide("approved", review=(date.today() + timedelta(days=180)).isoformat())
        refusal = page.get_by_role("alert").inner_text()
        assert t("ui.uc.cannot_approve") in refusal
        for needed in ("data.dpia_reference", "oversight.human_review", "oversight.works_council_reference"):
            assert t(f"register.field.{needed}") in refusal
        assert "data.dpia_reference" not in refusal

        page.get_by_role("link", name=t("ui.uc.edit")).click()
        page.locator("#f-data__dpia_reference").fill("AIPD-2026-007")
        page.locator("#f-oversight__human_review").select_option("human_decides")
        page.locator("#f-oversight__works_council_reference").fill("CSE 2026-03-12")
        page.get_by_role("button", name=t("ui.uc.save")).click()
        page.wait_for_url(f"{gateway.base_url}/ui/committee/use-cases/{use_case}")

        review = (date.today() + timedelta(days=180)).isoformat()
        decide("approved_with_conditions", "Pilot in two regions", "A recruiter reads every shortlist", review)
        assert badge() == t("ui.status.approved_with_conditions")
        assert "A recruiter reads every shortlist" in page.locator("dl.facts").last.inner_text()
        decide("suspended", "Complaint from a candidate under review")
        assert badge() == t("ui.status.suspended")
        decide("approved", "Complaint closed")
        assert badge() == t("ui.status.approved")
        assert at_both_widths(page, f"use-case-{lang}") == {390: 0, 1280: 0}
        decide("retired", "Replaced by the new applicant tracking system")
        assert badge() == t("ui.status.retired")
        changes = page.get_by_role("table", name=t("ui.uc.history")).locator("tbody tr")
        assert changes.count() == 9
    finally:
        context.close()
