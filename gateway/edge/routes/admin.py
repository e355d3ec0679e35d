"""Admin API: budgets, keys, the policy and the model catalogue; thin doors onto the admin services.

Every change goes through a service of `gateway.services`, which validates, stores,
audits and tells the other replicas; the pages and the CLI call the same methods.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gateway.identity.auth import Principal, require_role
from gateway.budgets.gate import format_micro
from gateway.budgets.config import BudgetRule
from gateway.budgets.overrides import OverrideChange, rule_json
from gateway.budgets.store import BudgetStatus
from gateway.edge.dependencies import BudgetsDep, CatalogueDep, KeysDep, OverridesDep, PolicyDep
from contracts.errors import NotFound
from gateway.identity.keys import KeyRecord
from gateway.services.keys import NewKey

router = APIRouter(prefix="/admin", tags=["admin"])
require_admin = require_role("admin")
AdminDep = Annotated[Principal, Depends(require_admin)]


def _status_json(status: BudgetStatus) -> dict[str, Any]:
    return {
        "unit": status.limit.unit,
        "window": status.limit.window,
        "limit": format_micro(status.limit.limit_micro),
        "spent": format_micro(status.spent_micro),
        "reserved": format_micro(status.reserved_micro),
        "remaining": format_micro(status.remaining_micro),
    }


def _change_json(change: OverrideChange) -> dict[str, Any]:
    return {"scope": change.scope, "before": change.before, "after": change.after}


@router.get("/budgets")
async def list_budgets(admin: AdminDep, overrides: OverridesDep, budgets: BudgetsDep) -> dict[str, Any]:
    """Configured defaults, admin overrides, and each override's current consumption."""
    listed = [
        {"scope": o.scope, "rule": rule_json(o.rule), "status": [_status_json(s) for s in o.statuses]}
        for o in await overrides.list()
    ]
    return {"defaults": budgets.config.model_dump(mode="json", exclude={"webhook_url"}), "overrides": listed}


@router.put("/budgets/{scope}")
async def put_budget(scope: str, rule: BudgetRule, admin: AdminDep, overrides: OverridesDep) -> dict[str, Any]:
    """Set the budget of one scope (replaces the default for it); an employee is named by id, stored by pseudonym."""
    return _change_json(await overrides.set(admin.employee_id, scope, rule))


@router.delete("/budgets/{scope}")
async def delete_budget(scope: str, admin: AdminDep, overrides: OverridesDep) -> dict[str, Any]:
    """Remove an override: the scope goes back to the configured default."""
    return _change_json(await overrides.remove(admin.employee_id, scope))


class KeyRequest(BaseModel):
    employee_id: str = Field(min_length=1, max_length=128)
    department: str = Field(min_length=1, max_length=64)
    roles: list[str] = Field(default_factory=lambda: ["employee"], min_length=1)
    name: str = Field(default="personal key", max_length=128)
    trusted_frontend: bool = False


def _key_json(record: KeyRecord) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "name": record.name,
        "employee_id": record.employee_id,
        "department": record.department,
        "roles": sorted(record.roles),
        "trusted_frontend": record.trusted_frontend,
        "created_at": record.created_at.isoformat(),
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
    }


@router.get("/keys")
async def list_keys(admin: AdminDep, keys: KeysDep) -> dict[str, Any]:
    """Every key's id, owner, roles and status (never the key)."""
    return {"data": [_key_json(k) for k in await keys.list()]}


@router.post("/keys", status_code=201)
async def create_key(body: KeyRequest, admin: AdminDep, keys: KeysDep) -> dict[str, Any]:
    """Create a key; the response is the only time the key is shown."""
    request = NewKey(body.employee_id, body.department, tuple(body.roles), body.name, body.trusted_frontend)
    created = await keys.create(admin.employee_id, request)
    return {"key": created.key, **_key_json(created.record)}


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, admin: AdminDep, keys: KeysDep) -> dict[str, Any]:
    """Revoke a key; every replica refuses it within a second."""
    await keys.revoke(admin.employee_id, key_id)
    return {"key_id": key_id, "revoked": True}


@router.get("/models")
async def list_catalogue(admin: AdminDep, catalogue: CatalogueDep) -> dict[str, Any]:
    """The model catalogue as loaded: tier, prices, impact profile and what each model really is."""
    return {
        "version": catalogue.version,
        "data": [
            {
                "name": spec.name,
                "tier": spec.tier,
                "mode": spec.mode,
                "provenance": spec.provenance,
                "price_eur_per_mtok": {
                    "input": str(spec.price_input_eur_per_mtok),
                    "output": str(spec.price_output_eur_per_mtok),
                },
                "max_output_tokens": spec.max_output_tokens,
                "provider": spec.impact.provider,
                "zone": spec.impact.zone,
                "fallbacks": catalogue.fallbacks.get(spec.name, []),
            }
            for spec in catalogue.all()
        ],
    }


class PolicyCandidate(BaseModel):
    text: str = Field(description="The candidate policy, as YAML.", max_length=1_000_000)


@router.get("/policy")
async def current_policy(admin: AdminDep, publishing: PolicyDep) -> dict[str, Any]:
    """The policy in force: version, label, source, use cases and its YAML text."""
    engine = publishing.engine
    return {
        "version": engine.version,
        "version_label": engine.policy.version_label,
        "source": engine.source,
        "loaded_at": engine.loaded_at.isoformat(),
        "use_cases": [
            {"id": uc.id, "name": uc.name, "tier": uc.tier, "status": uc.status, "owner": uc.owner}
            for uc in engine.policy.use_cases
        ],
        "rules": [rule.id for rule in engine.policy.rules],
        "text": engine.text,
    }


@router.put("/policy")
async def put_policy(
    candidate: PolicyCandidate,
    admin: AdminDep,
    publishing: PolicyDep,
    dry_run: bool = Query(False, description="Validate, diff and replay the last 30 days only; do not publish."),
) -> JSONResponse:
    """Validate a candidate; unless `dry_run`, publish it to every replica. A bad policy is never published (422)."""
    outcome = await publishing.submit(candidate.text, admin.employee_id, publish=not dry_run, with_replay=dry_run)
    return JSONResponse(outcome.as_dict(), status_code=200 if outcome.valid else 422)


@router.get("/policy/history")
async def policy_history(
    admin: AdminDep, publishing: PolicyDep, limit: int = Query(100, ge=1, le=1000)
) -> dict[str, Any]:
    """Published versions, most recent first."""
    versions = [
        {"version": v.version, "version_label": v.version_label, "loaded_at": v.published_at.isoformat(),
         "source": v.source, "actor": v.actor}
        for v in await publishing.history(limit)
    ]
    return {"current": publishing.engine.version, "versions": versions}


@router.get("/policy/history/{version}")
async def policy_version(version: str, admin: AdminDep, publishing: PolicyDep) -> dict[str, str]:
    """The YAML text of one published version."""
    text = await publishing.version_text(version)
    if text is None:
        raise NotFound("not_found", "error.policy_version_not_found", param="version", version=version)
    return {"version": version, "text": text}
