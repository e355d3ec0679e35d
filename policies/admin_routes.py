"""`/admin/policy`: read the current policy, try or apply a candidate, browse the history."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gateway.auth import Principal, require_role
from policies.diff import diff_policies
from policies.engine import PolicyEngine, content_version
from policies.history import list_versions, record_version, version_text

router = APIRouter(prefix="/admin/policy", tags=["admin"])
Admin = Depends(require_role("admin"))


class PolicyCandidate(BaseModel):
    text: str = Field(description="The candidate policy, as YAML.")


def _engine(request: Request) -> PolicyEngine:
    return request.app.state.policy_engine


async def _audit(request: Request, actor: str, action: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    await request.app.state.audit.record(actor, action, "policy", json.dumps(before), json.dumps(after))


@router.get("")
async def current_policy(request: Request, admin: Principal = Admin) -> dict[str, Any]:
    """The policy in force: version, label, source, use cases and its YAML text."""
    engine = _engine(request)
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


@router.put("")
async def put_policy(
    candidate: PolicyCandidate,
    request: Request,
    dry_run: bool = Query(False, description="Validate and diff only; do not load."),
    admin: Principal = Admin,
) -> JSONResponse:
    """Validate a candidate; unless `dry_run`, load it. A bad policy is never loaded (422)."""
    engine = _engine(request)
    report = engine.check(candidate.text)
    before = {"version": engine.version}
    if not report.ok or report.policy is None:
        errors = [{"line": i.line, "message": i.message, "path": i.path} for i in report.issues]
        body: dict[str, Any] = {"valid": False, "applied": False, "version": engine.version, "errors": errors}
        action, status = "policy.rejected", 422
    else:
        changes = [c.render() for c in diff_policies(engine.policy, report.policy)]
        body = {"valid": True, "applied": False, "version": content_version(candidate.text), "changes": changes}
        action, status = "policy.dry_run", 200
        if not dry_run:
            result = engine.reload_text(candidate.text, source=f"admin:{admin.employee_id}")
            body.update(applied=result.loaded, version=result.version, previous_version=result.previous_version)
            action = "policy.update"
            await record_version(request.app.state.engine, engine, admin.employee_id)
    await _audit(request, admin.employee_id, action, before, {k: v for k, v in body.items() if k != "valid"})
    return JSONResponse(body, status_code=status)


@router.get("/history")
async def policy_history(request: Request, limit: int = Query(100, ge=1, le=1000), admin: Principal = Admin) -> dict[str, Any]:
    """Loaded versions, most recent first."""
    return {"current": _engine(request).version, "versions": await list_versions(request.app.state.engine, limit)}


@router.get("/history/{version}")
async def policy_version(version: str, request: Request, admin: Principal = Admin) -> dict[str, str]:
    """The YAML text of one recorded version."""
    text = await version_text(request.app.state.engine, version)
    if text is None:
        raise HTTPException(status_code=404, detail=f"no policy version {version!r}")
    return {"version": version, "text": text}
