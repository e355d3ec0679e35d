"""Every form of the pages, fed hostile values in every field: an answer in words, never a 500, and
post/redirect/get (a 303) whenever the action succeeds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import httpx
import pytest

from admin_ui import register_form
from tests.ui.browser import csrf_of

pytestmark = pytest.mark.browser
HOSTILE = ("", " ", "1e400", "-1", "NaN", "inf", "0x10", "9" * 400, "x" * 20_000, "\x00", "2026-13-45",
           "'; DROP TABLE usage_records; --", "<script>alert(1)</script>", "../../etc/passwd", "é" * 300, "1,5", "\ufeff")


@contextmanager
def session(gateway, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, follow_redirects=False, timeout=60) as client:
        token = csrf_of(client.get("/ui/sign-in").text)
        assert client.post("/ui/sign-in", data={"csrf": token, "key": key, "next": "/ui/sign-in"}).status_code == 303
        yield client


def post(client: httpx.Client, page: str, action: str, fields: dict[str, str]) -> httpx.Response:
    token = csrf_of(client.get(page, follow_redirects=True).text)
    return client.post(action, data={"csrf": token, **fields})


def assert_answered_in_words(response: httpx.Response, where: str) -> None:
    assert response.status_code < 500, (where, response.status_code, response.text[:300])
    if response.status_code == 303:
        return
    assert response.headers["content-type"].startswith("text/html"), where
    if response.status_code >= 400:
        assert re.search(r'role="alert"|class="error"|<h1>', response.text), where
        assert "Traceback" not in response.text and "pydantic" not in response.text, where


@pytest.mark.parametrize("value", HOSTILE, ids=[repr(v)[:12] for v in HOSTILE])
def test_admin_forms_answer_every_value_in_words(gateway, keys, value):
    with session(gateway, keys.admin) as admin:
        for field in ("scope", "eur", "gco2e_g", "window", "window_days", "bucket_minutes", "action"):
            fields = {"scope": "department:fuzz", "eur": "10", "gco2e_g": "", field: value}
            answer = post(admin, "/ui/admin/budgets", "/ui/admin/budgets", fields)
            assert_answered_in_words(answer, f"budgets {field}")
        for field in ("employee", "department", "name", "role_admin"):
            fields = {"employee": "fuzz", "department": "ops", "role_employee": "1", field: value}
            assert_answered_in_words(post(admin, "/ui/admin/keys", "/ui/admin/keys", fields), f"keys {field}")
        answer = post(admin, "/ui/admin/keys", f"/ui/admin/keys/{quote(value[:50] or 'x', safe='')}/revoke", {})
        assert answer.status_code in (404, 405, 422), answer.status_code
        for action in ("dry_run", "publish"):
            answer = post(admin, "/ui/admin/policy", "/ui/admin/policy",
                          {"text": value, "action": action, "dry_run_of": value})
            assert_answered_in_words(answer, f"policy {action}")
            assert answer.status_code != 303  # nothing that was not dry-run is ever published


@pytest.mark.parametrize("value", HOSTILE, ids=[repr(v)[:12] for v in HOSTILE])
def test_committee_forms_answer_every_value_in_words(gateway, keys, value):
    with session(gateway, keys.committee) as committee:
        post(committee, "/ui/committee/use-cases-new", "/ui/committee/use-cases-new",
             {"id": "fuzz-case", "identity__name": "Fuzz"})  # a use case of its own (the others serve traffic)
        for path, spec in register_form.FIELDS.items():
            fields = {"identity__name": "Fuzz", spec.name: value}
            answer = post(committee, "/ui/committee/use-cases/fuzz-case/edit", "/ui/committee/use-cases/fuzz-case/edit",
                          fields)
            assert_answered_in_words(answer, f"edit {path}")
        answer = post(committee, "/ui/committee/use-cases-new", "/ui/committee/use-cases-new",
                      {"id": value, "identity__name": value})
        assert_answered_in_words(answer, "new id")
        for field in ("domain", "confirm_class", "rationale", "annex_iii_point", "practice_manipulation"):
            answer = post(committee, "/ui/committee/use-cases/fuzz-case",
                          "/ui/committee/use-cases/fuzz-case/classify", {field: value})
            assert_answered_in_words(answer, f"classify {field}")
        for field in ("target", "comment", "conditions", "next_review", "version"):
            fields = {"target": "under_review", "comment": "", field: value}
            answer = post(committee, "/ui/committee/use-cases/fuzz-case",
                          "/ui/committee/use-cases/fuzz-case/decision", fields)
            assert_answered_in_words(answer, f"decision {field}")
        for query in ("period", "month", "by", "sort", "status", "q"):
            for page in ("/ui/committee/use-cases", "/ui/committee/usage", "/ui/committee/usage.csv"):
                assert committee.get(page, params={query: value}).status_code < 500, (page, query)


def test_a_successful_action_answers_with_a_redirect(gateway, keys):
    with session(gateway, keys.admin) as admin:
        answer = post(admin, "/ui/admin/budgets", "/ui/admin/budgets", {"scope": "use_case:fuzz-ok", "eur": "5"})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/admin/budgets?saved=")
        answer = post(admin, "/ui/admin/keys", "/ui/admin/keys",
                      {"employee": "prg", "department": "ops", "role_employee": "1"})
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/admin/keys/created"
    with session(gateway, keys.committee) as committee:
        answer = post(committee, "/ui/committee/use-cases-new", "/ui/committee/use-cases-new",
                      {"id": "prg-case", "identity__name": "PRG case"})
        assert answer.status_code == 303, answer.text[:300]
        answer = post(committee, "/ui/committee/use-cases/prg-case", "/ui/committee/use-cases/prg-case/classify",
                      {"domain": "none"})
        assert answer.status_code == 303 and "classified=1" in answer.headers["location"]


def test_a_broken_policy_is_explained_in_french_on_the_french_policy_page(gateway, keys):
    broken = "version_label: x\nuse_cases:\n  - id: general\n    tier: huge\n    colour: blue\n"
    with session(gateway, keys.admin) as admin:
        admin.headers["Accept-Language"] = "fr-FR"
        answer = post(admin, "/ui/admin/policy", "/ui/admin/policy", {"text": broken, "action": "dry_run"})

    assert answer.status_code == 422
    alert = answer.text[answer.text.index('role="alert"'):]
    assert "doit être l&#39;une des valeurs small, medium, large" in alert or "doit être l'une des valeurs small, medium, large" in alert
    assert "champ inconnu" in alert
    assert "must be one of" not in alert and "Input should" not in alert and "unknown field" not in alert
