"""`/committee/...`: the use case register and aggregated usage; `/admin/pseudonyms`.

The committee sees the register and k-anonymous usage aggregates only: no prompt
text, no pseudonym, no figure covering fewer than k employees. Linking an employee to
their pseudonym is an admin action, and it is audited.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from gateway.identity.auth import Principal, require_role
from gateway.edge.errors import GatewayError
from gateway.i18n import negotiate
from gateway.inventory import exchange
from gateway.inventory.classification import Answers
from gateway.inventory.drift import drift
from gateway.inventory.model import RiskClass, Status, StoredUseCase, UseCaseRecord
from gateway.inventory.usage import DIMENSIONS, figures_json, month_range, roll_up
from gateway.edge.dependencies import InventoryDep, PolicyEngineDep, PseudonymLinksDep

router = APIRouter(tags=["committee"])
Committee = Depends(require_role("committee"))
Admin = Depends(require_role("admin"))
_MEDIA = {"yaml": "application/yaml", "json": "application/json", "csv": "text/csv"}


class Transition(BaseModel):
    status: Status
    decision: str = ""
    conditions: list[str] | None = None
    next_review: date | None = None
    version: int | None = Field(None, description="The version you read; 409 if it changed since")


class Classification(BaseModel):
    answers: Answers
    confirm_class: RiskClass | None = Field(None, description="The committee's class; omit to only get a proposal")
    rationale: str = ""
    annex_iii_point: str | None = None


class LinkRequest(BaseModel):
    employee_id: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=3, max_length=500, description="Why linking is needed (kept in the audit log)")



def _view(stored: StoredUseCase) -> dict[str, Any]:
    return {"version": stored.version, "updated_at": stored.updated_at.isoformat(), "updated_by": stored.updated_by,
            **stored.record.model_dump(mode="json")}


@router.get("/committee/use-cases")
async def list_use_cases(
    request: Request, inventory: InventoryDep,
    status: Status | None = None,
    department: str | None = None,
    risk_class: RiskClass | None = None,
    _: Principal = Committee,
) -> dict[str, Any]:
    """The register, optionally filtered by status, department or AI Act class."""
    found = await inventory.register.list(status, department, risk_class)
    return {"use_cases": [_view(s) for s in found]}


@router.get("/committee/use-cases/export")
async def export_use_cases(request: Request, inventory: InventoryDep, format: exchange.Format = "yaml", _: Principal = Committee) -> Any:
    """The whole register as YAML, JSON or CSV."""
    records = [s.record for s in await inventory.register.list()]
    return PlainTextResponse(exchange.dump(records, format), media_type=_MEDIA[format])


@router.post("/committee/use-cases/import")
async def import_use_cases(request: Request, inventory: InventoryDep, format: exchange.Format = "yaml",
                           principal: Principal = Committee) -> dict[str, int]:
    """Create or replace records from a YAML, JSON or CSV body; each change is versioned and audited."""
    records = exchange.load((await request.body()).decode("utf-8"), format)
    counts = await inventory.register.import_records(records, principal.employee_id)
    await inventory.changed()
    return counts


@router.get("/committee/use-cases/{use_case_id}")
async def get_use_case(use_case_id: str, request: Request, inventory: InventoryDep, _: Principal = Committee) -> dict[str, Any]:
    return _view(await inventory.register.require(use_case_id))


@router.get("/committee/use-cases/{use_case_id}/history")
async def use_case_history(use_case_id: str, request: Request, inventory: InventoryDep, _: Principal = Committee) -> dict[str, Any]:
    """Every version: who changed what, when."""
    register = inventory.register
    await register.require(use_case_id)
    return {"id": use_case_id, "versions": await register.history(use_case_id)}


@router.post("/committee/use-cases", status_code=201)
async def create_use_case(record: UseCaseRecord, request: Request, inventory: InventoryDep, principal: Principal = Committee) -> dict[str, Any]:
    """Register a use case as a draft."""
    stored = await inventory.register.create(record, principal.employee_id)
    await inventory.changed()
    return _view(stored)


@router.put("/committee/use-cases/{use_case_id}")
async def update_use_case(use_case_id: str, record: UseCaseRecord, request: Request, inventory: InventoryDep,
                          version: int | None = Query(None, description="The version you read"),
                          principal: Principal = Committee) -> dict[str, Any]:
    """Change the descriptive sections (status and classification have their own endpoints)."""
    stored = await inventory.register.update(use_case_id, record, principal.employee_id, version)
    return _view(stored)


@router.post("/committee/use-cases/{use_case_id}/transition")
async def transition_use_case(use_case_id: str, body: Transition, request: Request, inventory: InventoryDep,
                              principal: Principal = Committee) -> dict[str, Any]:
    """Change the lifecycle status; a suspension reaches every replica within seconds."""
    stored = await inventory.register.transition(use_case_id, body.status, principal.employee_id, body.decision,
                                                 body.conditions, body.next_review, body.version)
    await inventory.changed()
    return _view(stored)


@router.post("/committee/use-cases/{use_case_id}/classify")
async def classify_use_case(use_case_id: str, body: Classification, request: Request, inventory: InventoryDep,
                            principal: Principal = Committee) -> dict[str, Any]:
    """Propose an AI Act class from the guided answers; with `confirm_class`, record the committee's."""
    stored, proposal = await inventory.register.classify(
        use_case_id, body.answers, principal.employee_id, body.confirm_class, body.rationale, body.annex_iii_point)
    language = negotiate(request.headers.get("accept-language"))
    return {
        "proposal": {
            "risk_class": proposal.risk_class,
            "annex_iii_point": proposal.annex_iii_point,
            "points_to_annex_iii": proposal.points_to_annex_iii,
            "reasons": [reason.render(language) for reason in proposal.reasons],
        },
        "use_case": _view(stored),
    }


@router.get("/committee/drift")
async def register_drift(request: Request, inventory: InventoryDep, policy_engine: PolicyEngineDep, _: Principal = Committee) -> dict[str, Any]:
    """Use cases on which the routing policy and the register disagree."""
    language = negotiate(request.headers.get("accept-language"))
    found = drift(policy_engine.policy.use_cases, await inventory.register.statuses())
    return {"drift": [{"use_case": d.use_case, "issue": d.key.split(".", 1)[1], "message": d.render(language)}
                      for d in found]}


@router.get("/committee/usage")
async def usage(
    request: Request, inventory: InventoryDep,
    month: list[str] = Query(default_factory=list, description="YYYY-MM, repeatable; default: this month"),
    group_by: list[str] = Query(default_factory=lambda: ["use_case"], description="use_case, department, model"),
    _: Principal = Committee,
) -> dict[str, Any]:
    """k-anonymous usage: published cells, roll-ups over them, and one suppressed remainder per month."""
    dims = [d for d in group_by if d in DIMENSIONS]
    if len(dims) != len(group_by):
        raise GatewayError(400, "invalid_request", param="group_by", detail=f"group_by must be among {DIMENSIONS}")
    aggregator = inventory.usage
    months = month or [datetime.now(UTC).strftime("%Y-%m")]
    out = []
    for label in months:
        try:
            month_range(label)
        except ValueError:
            raise GatewayError(400, "invalid_request", param="month", detail="expected YYYY-MM") from None
        data = await aggregator.month(label)
        users = await aggregator.distinct_users_by(label, data.published, dims)
        groups = [{**dict(zip(dims, key)), **figures_json(figures), "distinct_users": users.get(key, 0)}
                  for key, figures in sorted(roll_up(data.cells, dims).items())]
        out.append({
            "month": label,
            "groups": groups,
            "suppressed": {"cells": data.suppressed_cells, **(
                {**figures_json(data.remainder), "distinct_users": data.remainder_users}
                if data.suppressed_cells and data.totals_publishable else {})},
            "total": {**figures_json(data.total), "distinct_users": data.total_users}
            if data.totals_publishable else None,
        })
    return {"k": aggregator.k, "disclosure_control": "primary and secondary cell suppression", "months": out}


@router.post("/admin/pseudonyms")
async def link_pseudonym(body: LinkRequest, links: PseudonymLinksDep, admin: Principal = Admin) -> dict[str, str]:
    """The pseudonym of one employee, for an admin who states why; the lookup is audited."""
    return {"employee_id": body.employee_id, "pseudonym": await links.link(admin.employee_id, body.employee_id, body.reason)}
