"""`/admin/policy`: read the current policy, try or apply a candidate, browse the history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gateway.auth import Principal, require_role
from policies.engine import PolicyEngine
from policies.history import list_versions, version_text
from policies.publish import PolicyPublisher

router = APIRouter(prefix="/admin/policy", tags=["admin"])
Admin = Depends(require_role("admin"))


class PolicyCandidate(BaseModel):
    text: str = Field(description="The candidate policy, as YAML.")


def _engine(request: Request) -> PolicyEngine:
    return request.app.state.policy_engine


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
    dry_run: bool = Query(False, description="Validate, diff and replay the last 30 days only; do not load."),
    admin: Principal = Admin,
) -> JSONResponse:
    """Validate a candidate; unless `dry_run`, load it. A bad policy is never loaded (422)."""
    publisher: PolicyPublisher = request.app.state.policy_publisher
    outcome = await publisher.submit(
        candidate.text, admin.employee_id, f"admin:{admin.employee_id}", publish=not dry_run, with_replay=dry_run
    )
    return JSONResponse(outcome.as_dict(), status_code=200 if outcome.valid else 422)


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
