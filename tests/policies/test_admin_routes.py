"""`/admin/policy`: current policy, candidate with dry run, history; every change audited (real database and audit log)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from gateway.identity.auth import Principal
from gateway.edge.errors import install_error_handlers
from gateway.ledger import db
from gateway.edge.routes import admin
from tests.policies.conftest import DATA, RULES_POLICY
from tests.services.conftest import build_services

ADMIN = Principal("alice", "p-alice", "dsi", frozenset({"admin"}), "key-1")
V2_TEXT = (DATA / "rules_policy_v2.yaml").read_text()


@pytest.fixture
async def app(sqlite_url, tmp_path):
    await db.upgrade(sqlite_url)
    engine = db.make_engine(sqlite_url)
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(RULES_POLICY.read_text())
    application = FastAPI()
    install_error_handlers(application)
    application.include_router(admin.router)
    application.state.services = await build_services(engine, sqlite_url, policy_file)
    await application.state.services.policy.start()
    yield application
    await engine.dispose()


@pytest.fixture
async def client(app):
    app.dependency_overrides[admin.require_admin] = lambda: ADMIN
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def actions(app) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.target) for e in reversed(await app.state.services.audit.entries())]


async def test_get_returns_the_current_version_and_text(client, app):
    body = (await client.get("/admin/policy")).json()
    assert body["version"] == app.state.services.policy.engine.version
    assert body["version_label"] == "rules-fixture"
    assert body["text"] == RULES_POLICY.read_text()


async def test_dry_run_validates_and_diffs_without_loading(client, app):
    old = app.state.services.policy.engine.version
    response = await client.put("/admin/policy", params={"dry_run": "true"}, json={"text": V2_TEXT})
    body = response.json()
    assert (response.status_code, body["valid"], body["applied"]) == (200, True, False)
    assert "- rule legal-night-small: was #2" in body["changes"]
    assert app.state.services.policy.engine.version == old
    assert (await actions(app))[-1] == ("alice", "policy.dry_run", "policy")


async def test_put_publishes_a_valid_candidate_records_it_and_audits(client, app, tmp_path):
    old = app.state.services.policy.engine.version
    body = (await client.put("/admin/policy", json={"text": V2_TEXT})).json()
    assert (body["applied"], body["previous_version"]) == (True, old)
    assert app.state.services.policy.engine.version == body["version"] != old
    history = (await client.get("/admin/policy/history")).json()
    seed_actor = f"file:{tmp_path / 'policy.yaml'}"
    assert [(v["version"], v["actor"]) for v in history["versions"]] == [(body["version"], "alice"), (old, seed_actor)]
    assert await actions(app) == [(seed_actor, "policy.update", "policy"), ("alice", "policy.update", "policy")]


async def test_put_of_a_bad_policy_is_422_with_lines_and_keeps_the_old_one(client, app):
    old = app.state.services.policy.engine.version
    response = await client.put("/admin/policy", json={"text": (DATA / "bad_policy.yaml").read_text()})
    assert response.status_code == 422
    assert {"line": 10, "message": "unknown model 'gpt-7'", "path": "use_cases.1.allowed_models.0"} in response.json()["errors"]
    assert app.state.services.policy.engine.version == old
    assert (await actions(app))[-1] == ("alice", "policy.rejected", "policy")


async def test_history_serves_the_text_of_a_recorded_version(client, app):
    version = app.state.services.policy.engine.version
    body = (await client.get(f"/admin/policy/history/{version}")).json()
    assert body["text"] == RULES_POLICY.read_text()


async def test_history_of_an_unknown_version_is_an_openai_shaped_404(client):
    response = await client.get("/admin/policy/history/000000000000")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


class EmployeeAuthenticator:
    async def authenticate(self, request) -> Principal:
        return Principal("bob", "p-bob", "finance", frozenset({"employee"}), "key-2")


async def test_routes_require_the_admin_role(app):
    app.state.authenticator = EmployeeAuthenticator()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as employee:
        response = await employee.get("/admin/policy")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden_role")


async def test_dry_run_reports_the_replay_of_recent_traffic(client):
    response = await client.put("/admin/policy", params={"dry_run": "true"}, json={"text": V2_TEXT})
    replay = response.json()["replay"]
    assert response.status_code == 200
    assert replay["policy_version"] == response.json()["version"]
    assert replay["overall"]["requests"] == 0  # the fixture ledger is empty

