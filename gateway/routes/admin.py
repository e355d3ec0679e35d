"""Admin API: budgets, keys and the model catalogue. Every change is audit-logged."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from gateway.auth import Principal, require_role
from gateway.budget_gate import format_micro
from gateway.budgets.config import BudgetRule
from gateway.budgets.overrides import BudgetOverrides, rule_json
from gateway.errors import GatewayError
from gateway.keys import ROLES

router = APIRouter(prefix="/admin", tags=["admin"])
Admin = Depends(require_role("admin"))
_SCOPE = re.compile(r"^(org|(employee|department|use_case):[A-Za-z0-9@._-]{1,128})$")


def _scope(request: Request, scope: str) -> str:
    """Validate a budget scope; an employee is named by id and stored by pseudonym."""
    if not _SCOPE.match(scope):
        raise GatewayError(400, "invalid_request", param="scope",
                           detail="scope is org, employee:<id>, department:<code> or use_case:<id>")
    kind, _, name = scope.partition(":")
    if kind == "employee":
        return f"employee:{request.app.state.authenticator.pseudonym(name)}"
    return scope


async def _reload_overrides(request: Request) -> None:
    service = request.app.state.budgets
    service.set_overrides(await BudgetOverrides(request.app.state.engine).load())


def _status_json(status: Any) -> dict[str, Any]:
    return {
        "unit": status.limit.unit,
        "window": status.limit.window,
        "limit": format_micro(status.limit.limit_micro),
        "spent": format_micro(status.spent_micro),
        "reserved": format_micro(status.reserved_micro),
        "remaining": format_micro(status.remaining_micro),
    }


@router.get("/budgets")
async def list_budgets(request: Request, admin: Principal = Admin) -> dict[str, Any]:
    """Configured defaults, admin overrides, and each override's current consumption."""
    service = request.app.state.budgets
    overrides = await BudgetOverrides(request.app.state.engine).load()
    now = datetime.now(UTC)
    listed = []
    for scope, rule in sorted(overrides.items()):
        statuses = await service.store.status(rule.limits(scope), now)
        listed.append({"scope": scope, "rule": rule_json(rule), "status": [_status_json(s) for s in statuses]})
    return {"defaults": service.config.model_dump(mode="json", exclude={"webhook_url"}), "overrides": listed}


@router.put("/budgets/{scope}")
async def put_budget(scope: str, rule: BudgetRule, request: Request, admin: Principal = Admin) -> dict[str, Any]:
    """Set the budget of one scope (replaces the default for it)."""
    stored = _scope(request, scope)
    change = await BudgetOverrides(request.app.state.engine).put(stored, rule, admin.employee_id, datetime.now(UTC))
    await request.app.state.audit.record(admin.employee_id, "budget.set", stored, change.before, change.after)
    await _reload_overrides(request)
    return {"scope": stored, "before": change.before, "after": change.after}


@router.delete("/budgets/{scope}")
async def delete_budget(scope: str, request: Request, admin: Principal = Admin) -> dict[str, Any]:
    """Remove an override: the scope goes back to the configured default."""
    stored = _scope(request, scope)
    change = await BudgetOverrides(request.app.state.engine).remove(stored)
    if change.before is None:
        raise GatewayError(404, "not_found")
    await request.app.state.audit.record(admin.employee_id, "budget.remove", stored, change.before, None)
    await _reload_overrides(request)
    return {"scope": stored, "before": change.before, "after": None}


class KeyRequest(BaseModel):
    employee_id: str = Field(min_length=1, max_length=128)
    department: str = Field(min_length=1, max_length=64)
    roles: list[str] = Field(default_factory=lambda: ["employee"], min_length=1)
    name: str = Field(default="personal key", max_length=128)
    trusted_frontend: bool = False


def _key_json(record: Any) -> dict[str, Any]:
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
async def list_keys(request: Request, admin: Principal = Admin) -> dict[str, Any]:
    """Every key's id, owner, roles and status (never the key)."""
    return {"data": [_key_json(k) for k in await request.app.state.keys.list()]}


@router.post("/keys", status_code=201)
async def create_key(body: KeyRequest, request: Request, admin: Principal = Admin) -> dict[str, Any]:
    """Create a key; the response is the only time the key is shown."""
    if set(body.roles) - set(ROLES):
        raise GatewayError(400, "invalid_request", param="roles", detail=f"roles are {', '.join(ROLES)}")
    key, record = await request.app.state.keys.create(
        body.name, body.employee_id, body.department, body.roles, body.trusted_frontend
    )
    await request.app.state.audit.record(admin.employee_id, "key.create", record.key_id, None, _key_json(record))
    return {"key": key, **_key_json(record)}


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, request: Request, admin: Principal = Admin) -> dict[str, Any]:
    """Revoke a key; every replica refuses it within a second."""
    if not await request.app.state.keys.revoke(key_id):
        raise GatewayError(404, "not_found")
    await request.app.state.audit.record(admin.employee_id, "key.revoke", key_id, {"active": True}, {"active": False})
    return {"key_id": key_id, "revoked": True}


@router.get("/models")
async def list_catalogue(request: Request, admin: Principal = Admin) -> dict[str, Any]:
    """The model catalogue as loaded: tier, prices, impact profile and what each model really is."""
    catalogue = request.app.state.catalogue
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
