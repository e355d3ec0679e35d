"""Admin pages: model catalogue, budgets and overrides, API keys, policy editor, audit log.

Every change goes through the same services as the JSON admin API and is written
to the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Depends, Request, Response

from admin_ui.web import UiRoute, Visitor, form_data, redirect, render, visitor
from gateway.budgets.config import BudgetRule
from gateway.budgets.overrides import BudgetOverrides
from gateway.keys import ROLES
from policies.engine import PolicyEngine
from policies.history import list_versions
from policies.publish import PolicyPublisher

router = APIRouter(prefix="/admin", route_class=UiRoute)


@router.get("/models")
async def models(request: Request, who: Visitor = Depends(visitor)) -> Response:
    who.require("admin")
    return render(request, who, "admin/models.html", models=request.app.state.catalogue.all())


async def _budget_rows(request: Request, overrides: dict[str, BudgetRule]) -> list[dict]:
    """Each overridden or configured scope with its rule and current consumption."""
    budgets = request.app.state.budgets
    now = datetime.now(UTC)
    config = budgets.config
    scopes = {f"department:{name}": rule for name, rule in config.departments.items()}
    scopes.update({f"use_case:{name}": rule for name, rule in config.use_cases.items()})
    scopes["org"] = config.org
    scopes.update(overrides)
    rows = []
    for scope, rule in sorted(scopes.items()):
        limits = rule.limits(scope)
        statuses = await budgets.store.status(limits, now) if limits else []
        rows.append({"scope": scope, "rule": rule, "overridden": scope in overrides, "statuses": statuses})
    return rows


async def _budgets_page(request: Request, who: Visitor, error: str | None = None, status_code: int = 200) -> Response:
    overrides = await BudgetOverrides(request.app.state.engine).load()
    config = request.app.state.budgets.config
    defaults = [("employee", config.employee), ("department", config.department), ("use_case", config.use_case)]
    defaults += [(f"employee @ {name}", rule) for name, rule in config.employee_by_department.items()]
    defaults += [(f"employee + {role}", rule) for role, rule in config.employee_by_role.items()]
    return render(
        request, who, "admin/budgets.html", status_code=status_code,
        defaults=defaults, rows=await _budget_rows(request, overrides), error=error,
    )


@router.get("/budgets")
async def budgets_page(request: Request, who: Visitor = Depends(visitor)) -> Response:
    who.require("admin")
    return await _budgets_page(request, who)


def _amount(text: str) -> Decimal | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    value = Decimal(text)
    if value < 0 or not value.is_finite():
        raise InvalidOperation(text)
    return value


@router.post("/budgets")
async def set_override(request: Request, who: Visitor = Depends(visitor)) -> Response:
    admin = who.require("admin")
    form = await form_data(request, who)
    scope = form.get("scope", "").strip()
    store = BudgetOverrides(request.app.state.engine)
    if form.get("action") == "remove":
        change = await store.remove(scope)
    else:
        kind = scope.partition(":")[0]
        if kind not in {"employee", "department", "use_case", "org"} or (kind != "org" and ":" not in scope):
            return await _budgets_page(request, who, "ui.budgets.bad_scope", 422)
        try:
            rule = BudgetRule(eur=_amount(form.get("eur", "")), gco2e_g=_amount(form.get("gco2e_g", "")))
        except (InvalidOperation, ValueError):
            return await _budgets_page(request, who, "ui.budgets.bad_amount", 422)
        change = await store.put(scope, rule, admin.employee_id, datetime.now(UTC))
    request.app.state.budgets.set_overrides(await store.load())
    await request.app.state.audit.record(admin.employee_id, "budget.override", scope, change.before, change.after)
    return redirect(request, who, "/ui/admin/budgets")


@router.get("/keys")
async def keys_page(request: Request, who: Visitor = Depends(visitor)) -> Response:
    who.require("admin")
    return render(request, who, "admin/keys.html", keys=await request.app.state.keys.list(), roles=ROLES, created=None, error=None)


@router.post("/keys")
async def create_key(request: Request, who: Visitor = Depends(visitor)) -> Response:
    admin = who.require("admin")
    form = await form_data(request, who)
    roles = [role for role in ROLES if form.get(f"role_{role}")]
    employee, department = form.get("employee", "").strip(), form.get("department", "").strip()
    keys = request.app.state.keys
    if not employee or not department or not roles:
        listing = await keys.list()
        return render(request, who, "admin/keys.html", status_code=422, keys=listing, roles=ROLES, created=None, error="ui.keys.missing")
    name = form.get("name", "").strip() or employee
    key, record = await keys.create(name, employee, department, roles)
    after = {"name": name, "employee_id": employee, "department": department, "roles": sorted(roles)}
    await request.app.state.audit.record(admin.employee_id, "key.create", f"key:{record.key_id}", None, after)
    return render(request, who, "admin/keys.html", keys=await keys.list(), roles=ROLES, created=key, error=None)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: str, request: Request, who: Visitor = Depends(visitor)) -> Response:
    admin = who.require("admin")
    await form_data(request, who)
    if await request.app.state.keys.revoke(key_id):
        await request.app.state.audit.record(admin.employee_id, "key.revoke", f"key:{key_id}", {"active": True}, {"active": False})
    return redirect(request, who, "/ui/admin/keys")


async def _policy_page(request: Request, who: Visitor, text: str, status_code: int = 200, **result: object) -> Response:
    engine: PolicyEngine = request.app.state.policy_engine
    versions = await list_versions(request.app.state.engine, 20)
    return render(
        request, who, "admin/policy.html", status_code=status_code,
        text=text, current=engine.version, label=engine.policy.version_label, versions=versions,
        issues=result.get("issues", []), changes=result.get("changes"), report=result.get("report"),
        published=result.get("published"),
    )


@router.get("/policy")
async def policy_page(request: Request, who: Visitor = Depends(visitor)) -> Response:
    who.require("admin")
    return await _policy_page(request, who, request.app.state.policy_engine.text)


@router.post("/policy")
async def policy_submit(request: Request, who: Visitor = Depends(visitor)) -> Response:
    """Dry run: validate, diff and replay the last days of the ledger; publish: the same, then load it."""
    admin = who.require("admin")
    form = await form_data(request, who)
    text = form.get("text", "").replace("\r\n", "\n")
    publisher: PolicyPublisher = request.app.state.policy_publisher
    publish = form.get("action") == "publish"
    outcome = await publisher.submit(text, admin.employee_id, f"ui:{admin.employee_id}", publish, with_replay=not publish)
    if not outcome.valid:
        return await _policy_page(request, who, text, 422, issues=outcome.issues)
    if publish:
        return await _policy_page(request, who, publisher.engine.text, changes=outcome.changes,
                                  published=outcome.version)
    return await _policy_page(request, who, text, changes=outcome.changes, report=outcome.replay)


@router.get("/audit")
async def audit_page(request: Request, who: Visitor = Depends(visitor)) -> Response:
    who.require("admin")
    audit = request.app.state.audit
    return render(request, who, "admin/audit.html", entries=await audit.entries(limit=200), verification=await audit.verify())
