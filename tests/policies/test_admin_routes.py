"""`/admin/policy`: current policy, candidate with dry run, history; every change audited."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.auth import Principal
from gateway.errors import install_error_handlers
from gateway.ledger.tables import Base
from policies import admin_routes
from policies.engine import PolicyEngine
from policies.history import record_version
from policies.publish import PolicyPublisher
from tests.policies.conftest import DATA, RULES_POLICY

ADMIN = Principal("alice", "p-alice", "dsi", frozenset({"admin"}), "key-1")
V2_TEXT = (DATA / "rules_policy_v2.yaml").read_text()


class RecordingAudit:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str]] = []

    async def record(self, actor: str, action: str, target: str, before: str, after: str) -> None:
        self.entries.append((actor, action, target))


@pytest.fixture
async def app(catalogue, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    db = create_async_engine(url)
    async with db.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    application = FastAPI()
    application.include_router(admin_routes.router)
    application.dependency_overrides[admin_routes.Admin.dependency] = lambda: ADMIN
    application.state.policy_engine = PolicyEngine.load(RULES_POLICY, catalogue)
    application.state.engine = db
    application.state.audit = RecordingAudit()
    application.state.policy_publisher = PolicyPublisher(
        application.state.policy_engine, db, url, application.state.audit
    )
    await record_version(db, application.state.policy_engine, "startup")
    yield application
    await db.dispose()


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def test_get_returns_the_current_version_and_text(client, app):
    body = (await client.get("/admin/policy")).json()
    assert body["version"] == app.state.policy_engine.version
    assert body["version_label"] == "rules-fixture"
    assert body["text"] == RULES_POLICY.read_text()


async def test_dry_run_validates_and_diffs_without_loading(client, app):
    old = app.state.policy_engine.version
    response = await client.put("/admin/policy", params={"dry_run": "true"}, json={"text": V2_TEXT})
    body = response.json()
    assert (response.status_code, body["valid"], body["applied"]) == (200, True, False)
    assert "- rule legal-night-small: was #2" in body["changes"]
    assert app.state.policy_engine.version == old
    assert app.state.audit.entries == [("alice", "policy.dry_run", "policy")]


async def test_put_loads_a_valid_candidate_records_it_and_audits(client, app):
    old = app.state.policy_engine.version
    body = (await client.put("/admin/policy", json={"text": V2_TEXT})).json()
    assert (body["applied"], body["previous_version"]) == (True, old)
    assert app.state.policy_engine.version == body["version"] != old
    history = (await client.get("/admin/policy/history")).json()
    assert [(v["version"], v["actor"]) for v in history["versions"]] == [(body["version"], "alice"), (old, "startup")]
    assert app.state.audit.entries == [("alice", "policy.update", "policy")]


async def test_put_of_a_bad_policy_is_422_with_lines_and_keeps_the_old_one(client, app):
    old = app.state.policy_engine.version
    response = await client.put("/admin/policy", json={"text": (DATA / "bad_policy.yaml").read_text()})
    assert response.status_code == 422
    assert {"line": 10, "message": "unknown model 'gpt-7'", "path": "use_cases.1.allowed_models.0"} in response.json()["errors"]
    assert app.state.policy_engine.version == old
    assert app.state.audit.entries == [("alice", "policy.rejected", "policy")]


async def test_history_serves_the_text_of_a_recorded_version(client, app):
    version = app.state.policy_engine.version
    body = (await client.get(f"/admin/policy/history/{version}")).json()
    assert body["text"] == RULES_POLICY.read_text()


async def test_history_of_an_unknown_version_is_404(client):
    assert (await client.get("/admin/policy/history/000000000000")).status_code == 404


class EmployeeAuthenticator:
    async def authenticate(self, request) -> Principal:
        return Principal("bob", "p-bob", "finance", frozenset({"employee"}), "key-2")


async def test_routes_require_the_admin_role(app):
    app.dependency_overrides.clear()
    app.state.authenticator = EmployeeAuthenticator()
    install_error_handlers(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as employee:
        response = await employee.get("/admin/policy")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden_role")


async def test_dry_run_reports_the_replay_of_recent_traffic(client):
    response = await client.put("/admin/policy", params={"dry_run": "true"}, json={"text": V2_TEXT})
    replay = response.json()["replay"]
    assert response.status_code == 200
    assert replay["policy_version"] == response.json()["version"]
    assert replay["overall"]["requests"] == 0  # the fixture ledger is empty
