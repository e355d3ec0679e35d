"""Helpers for driving the pages: find Chromium and axe-core, sign in, audit, weigh, screenshot.

Outside CI a missing browser or axe-core skips the tests with the reason; under
CI=true it fails them, so CI never passes on skipped browser tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
AXE_CANDIDATES = (
    os.environ.get("SOBRIA_AXE_PATH", ""),
    str(ROOT / "node_modules" / "axe-core" / "axe.min.js"),
)
FIRST_LOAD_BUDGET = 150 * 1024
REPEAT_LOAD_BUDGET = 30 * 1024


def missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason + " (CI=true: .ci/run installs it)")
    pytest.skip(reason)


def chromium_path() -> str:
    path = os.environ.get("SOBRIA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        missing("Chromium is not installed (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("Playwright for Python is not installed (pip install -e '.[test]')")
    return path


def axe_path() -> Path:
    for candidate in AXE_CANDIDATES:
        if candidate and Path(candidate).exists():
            return Path(candidate)
    missing("axe-core is not installed (npm install --no-save axe-core into the repository's node_modules)")
    raise AssertionError("unreachable")


def oidc_provider_script() -> Path:
    """The loopback OIDC provider's script, once node and the `oidc-provider` package are there."""
    if shutil.which("node") is None:
        missing("node is not installed (apt-get install -y nodejs)")
    if not (ROOT / "node_modules" / "oidc-provider").exists():
        missing("oidc-provider is not installed (npm install --no-save oidc-provider into node_modules)")
    return Path(__file__).with_name("oidc_provider.mjs")


def ui_key(base_url: str, admin_key: str, employee: str, department: str, *roles: str) -> str:
    """A new key, created through the admin page (as an admin would)."""
    with httpx.Client(base_url=base_url, follow_redirects=True, timeout=30) as client:
        sign_in_http(client, admin_key)
        form = {"csrf": csrf_of(client.get("/ui/admin/keys").text), "employee": employee, "department": department}
        form.update({f"role_{role}": "1" for role in roles or ("employee",)})
        page = client.post("/ui/admin/keys", data=form).text
    found = re.search(r'id="new-key">(sk-sobria-[^<]+)<', page)
    assert found, "the new key is not on the page"
    return found.group(1)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in_http(client: httpx.Client, key: str) -> None:
    token = csrf_of(client.get("/ui/sign-in").text)
    client.post("/ui/sign-in", data={"csrf": token, "key": key, "next": "/ui/me"}).raise_for_status()


def sign_in(page, base_url: str, key: str, next_path: str = "/ui/me") -> None:
    page.goto(f"{base_url}/ui/sign-in?next={next_path}")
    page.get_by_label(re.compile("Sobria API key|Clé d'API Sobria")).fill(key)
    page.get_by_role("button", name=re.compile("Sign in|Se connecter")).click()
    page.wait_for_url(f"{base_url}{next_path}")


def serious_violations(page, axe: Path) -> list[dict]:
    """axe-core's serious and critical violations on the current page (WCAG 2.1 A and AA rules).

    The page's context must bypass CSP: the pages forbid every script, axe-core included."""
    page.add_script_tag(path=str(axe))
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


TRANSFERRED_JS = """() => {
  const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
  return entries.reduce((sum, e) => sum + e.transferSize, 0);
}"""


@dataclass
class PageReport:
    name: str
    path: str
    first_load_bytes: int
    repeat_load_bytes: int
    serious_or_critical: list[dict]


def weigh(browser, storage_state: dict, url: str, screenshot: Path) -> tuple[int, int, object]:
    """Bytes transferred on a first visit (empty cache) and on a repeat visit; returns the open page too."""
    context = browser.new_context(storage_state=storage_state, locale="en-GB", bypass_csp=True)
    page = context.new_page()
    page.goto(url, wait_until="load")
    first = page.evaluate(TRANSFERRED_JS)
    page.goto(url, wait_until="load")
    repeat = page.evaluate(TRANSFERRED_JS)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    return first, repeat, page


def record(report: PageReport) -> None:
    """Append a page's weight and axe result to the artefact the issue note quotes."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "pages.json"
    reports = json.loads(path.read_text()) if path.exists() else {}
    reports[report.name] = asdict(report)
    path.write_text(json.dumps(reports, indent=2, ensure_ascii=False))


WIDTHS = (390, 1280)
PAGE_SCROLL_JS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def at_both_widths(page, name: str) -> dict[int, int]:
    """Screenshots of the current page at 390 and 1280 px into test-artifacts/ui/, and how many
    pixels the page itself scrolls sideways at each width (0 when it fits)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    overflow = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        overflow[width] = page.evaluate(PAGE_SCROLL_JS)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    return overflow
