"""One gateway for the whole browser folder, with a seeded ledger and a key per role."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import httpx
import pytest

from tests.processes import (
    Gateway,
    catalogue_for,
    free_port,
    start_gateway,
    start_mock_upstream,
    stop,
    wait_until_up,
)
from tests.ui.browser import (
    CHROMIUM_ARGS,
    axe_path,
    chromium_path,
    oidc_provider_script,
    ui_key,
)

FINANCE = [f"fin-{i}" for i in range(6)]
LEGAL = ["legal-0", "legal-1"]


@dataclass(frozen=True)
class Keys:
    employee: str
    colleague: str
    committee: str
    admin: str


@pytest.fixture(scope="session")
def chromium() -> str:
    return chromium_path()


@pytest.fixture(scope="session")
def axe(chromium):
    return axe_path()


OIDC_PORT = free_port()
OIDC_ROLE_MAP = {"sobria-ethics": "committee", "sobria-csr": "csr", "it-admins": "admin"}
"""The identity provider's groups that give Sobria roles (any other group gives none)."""


@pytest.fixture(scope="session")
def gateway(chromium, tmp_path_factory) -> Iterator[Gateway]:
    """The gateway, told to trust the loopback identity provider (started by `oidc_provider` when a test needs it)."""
    upstream = start_mock_upstream("--output-tokens", "40")
    folder = tmp_path_factory.mktemp("ui")
    directory = folder / "directory.csv"
    directory.write_text("email,employee_id,department\n" + "".join(
        f"{name}@example.fr,{name},finance\n" for name in FINANCE))
    env = {"SOBRIA_OIDC_ISSUER": f"http://127.0.0.1:{OIDC_PORT}", "SOBRIA_OIDC_CLIENT_SECRET": "sobria-test-secret",
           "SOBRIA_DIRECTORY_PATH": str(directory), "SOBRIA_OIDC_SCOPE": "openid email groups",
           "SOBRIA_OIDC_ROLE_MAP": json.dumps(OIDC_ROLE_MAP)}
    gw = start_gateway(folder, catalogue_for(upstream.base_url), env)
    try:
        yield gw
    finally:
        stop(gw.process)
        stop(upstream.process)


@pytest.fixture(scope="session")
def oidc_provider(gateway, tmp_path_factory) -> Iterator[str]:
    """A real OpenID Connect provider (npm `oidc-provider`) on loopback; yields its issuer URL."""
    script = oidc_provider_script()
    log = (tmp_path_factory.mktemp("oidc") / "provider.log").open("w")
    process = subprocess.Popen(["node", str(script), str(OIDC_PORT), f"{gateway.base_url}/ui/oidc/callback"],
                               stdout=log, stderr=subprocess.STDOUT, cwd=script.parent)
    issuer = f"http://127.0.0.1:{OIDC_PORT}"
    try:
        wait_until_up(f"{issuer}/.well-known/openid-configuration", process)
        yield issuer
    finally:
        stop(process)
        log.close()


def chat(gw: Gateway, key: str, use_case: str) -> httpx.Response:
    return httpx.post(
        f"{gw.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}", "X-Sobria-Use-Case": use_case},
        json={"model": "auto", "messages": [{"role": "user", "content": "Résume ce paragraphe en une phrase."}]},
        timeout=30,
    )


@pytest.fixture(scope="session")
def keys(gateway) -> Keys:
    """Six finance employees (a publishable group) and two legal ones (a group to suppress) with usage."""
    employee_keys = {name: ui_key(gateway.base_url, gateway.admin_key, name, "finance") for name in FINANCE}
    employee_keys |= {name: ui_key(gateway.base_url, gateway.admin_key, name, "legal") for name in LEGAL}
    for name, key in employee_keys.items():
        for use_case in ("translation", "summarisation") if name in FINANCE else ("summarisation",):
            assert chat(gateway, key, use_case).status_code == 200
    committee = ui_key(gateway.base_url, gateway.admin_key, "carla", "ethics", "committee")
    return Keys(employee_keys["fin-0"], employee_keys["fin-1"], committee, gateway.admin_key)


@pytest.fixture(scope="session")
def use_case_under_review(gateway, keys) -> str:
    """A complete use case waiting for the committee's decision (prepared through the JSON API)."""
    api = httpx.Client(base_url=gateway.base_url, headers={"Authorization": f"Bearer {keys.committee}"}, timeout=30)
    record = {
        "id": "meeting-minutes",
        "identity": {"name": "Meeting minutes", "owner": "dsi-ia@example.fr", "summary": "Drafts minutes from notes"},
        "purpose": {"problem": "Minutes take hours to write", "why_generative_ai": "Free text from free notes"},
    }
    assert api.post("/committee/use-cases", json=record).status_code == 201
    assert api.post("/committee/use-cases/meeting-minutes/transition", json={"status": "submitted"}).status_code == 200
    review = {"status": "under_review", "next_review": (date.today() + timedelta(days=180)).isoformat()}
    assert api.post("/committee/use-cases/meeting-minutes/transition", json=review).status_code == 200
    answers = {"domain": "none", "decides_about_people": False, "profiling": False}
    classify = {"answers": answers, "confirm_class": "minimal", "rationale": "Internal notes, no decision about people"}
    assert api.post("/committee/use-cases/meeting-minutes/classify", json=classify).status_code == 200
    return "meeting-minutes"


@pytest.fixture(scope="package")
def browser(chromium):
    """Chromium for this folder only: sync Playwright runs an event loop in the main
    thread while it lives, which later tests calling asyncio.run would trip over."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    yield page
    context.close()
