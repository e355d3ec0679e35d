"""Every page, read in French, carries no English and no untranslated catalogue key; unknown pages are 404s."""

from __future__ import annotations

import html
import re

import httpx

from gateway.i18n import catalogue
from tests.ui.browser import sign_in_http

PAGES = (
    "/ui/me", "/ui/committee/use-cases", "/ui/committee/use-cases/translation", "/ui/committee/use-cases-new",
    "/ui/committee/use-cases/translation/edit", "/ui/committee/usage", "/ui/committee/usage?by=department",
    "/ui/committee/drift", "/ui/csr", "/ui/admin/models", "/ui/admin/budgets", "/ui/admin/keys",
    "/ui/admin/policy", "/ui/admin/audit", "/ui/no-such-page",
)
KEY = re.compile(r"\b(?:ui|register|csr|error|drift|classify)\.[a-z_]+\.[a-z_.]+\b")
KNOWN_ENGLISH = ("Requests", "Sign out", "Under review", "Not classified", "hidden", "Access denied",
                 "Download", "Status", "Served", "refused")
#: Pages listing what people typed or what was stored (key names, audit entries and their documents):
#: a typed "2026-13-45" or an audit entry's "status": "rejected" is data, not the page's words.
TYPED_DATA = ("/ui/admin/keys", "/ui/admin/audit")
#: A month or a day written as stored (2026-07, 2026-07-08) rather than in the reader's words
#: (not in identifiers such as default-2026-11).
ISO_DATES = re.compile(r"(?<![\w-])\d{4}-\d{2}(?:-\d{2})?\b")
#: Register statuses as stored: on a French page each is said in words (quoted ones included).
STATUS_CODES = re.compile(r"(?<![\w.])(?:draft|submitted|under_review|approved|approved_with_conditions|rejected|suspended|retired)\b")


def visible_text(page: str) -> str:
    """The text a reader sees or hears: element text plus title, alt, aria-label and placeholder values."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.DOTALL)
    attributes = " ".join(re.findall(r'(?:title|alt|aria-label|placeholder)="([^"]*)"', body))
    return html.unescape(re.sub(r"<[^>]+>", " ", body) + " " + attributes)


def english_phrases() -> set[str]:
    """Catalogue sentences whose French differs: any of them on a French page is untranslated text."""
    english, french = catalogue("en"), catalogue("fr")
    return {text for key, text in english.items()
            if key.startswith(("ui.", "register.", "csr.")) and french.get(key) != text and len(text) >= 14
            and "{" not in text}


def test_no_page_in_french_carries_english_or_a_raw_key(gateway, keys):
    phrases = english_phrases()
    problems = {}
    with httpx.Client(base_url=gateway.base_url, follow_redirects=True, timeout=60,
                      headers={"Accept-Language": "fr-FR,fr;q=0.9"}) as client:
        sign_in_http(client, gateway.admin_key)
        for path in PAGES:
            response = client.get(path)
            assert response.status_code == (404 if path == "/ui/no-such-page" else 200), path
            text = visible_text(response.text)
            chrome = visible_text(re.sub(r"<textarea[^>]*>.*?</textarea>", " ", response.text, flags=re.DOTALL))  # the policy's text aside
            found = sorted({*KEY.findall(text), *(p for p in phrases if p in text),
                            *(w for w in KNOWN_ENGLISH if re.search(rf"\b{re.escape(w)}\b", text)),
                            *(() if path in TYPED_DATA else (*STATUS_CODES.findall(chrome), *ISO_DATES.findall(chrome)))})
            if found:
                problems[path] = found
    assert problems == {}


def test_an_unknown_page_is_a_404_titled_as_such(gateway):
    response = httpx.get(f"{gateway.base_url}/ui/nowhere/at/all", headers={"Accept-Language": "en"}, timeout=30)
    assert response.status_code == 404
    assert "<title>Page not found · Sobria</title>" in response.text and "Access denied" not in response.text
