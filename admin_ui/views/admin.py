"""Admin pages: model catalogue, budgets and overrides, API keys, policy editor, audit log.

Thin callers of the same services as the JSON admin API and the CLI (`gateway.services`):
the same validation, the same audit action names and targets. Every successful POST
answers with a redirect (post/redirect/get), so reloading never repeats an action. A new
key crosses that redirect once, encrypted in a cookie that lives two minutes on one path
and is deleted as the key is shown (the key is never in a URL, a log or the database);
a revocation is confirmed on its own page; a policy is published only after a dry run
of exactly that text.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from cryptography.fernet import Fernet, InvalidToken
from fastapi import APIRouter, Depends, Request, Response

from admin_ui.web import UiRoute, Visitor, form_data, redirect, render, visitor
from gateway.budgets.config import BudgetRule
from gateway.ledger.audit import read_checkpoints
from gateway.edge.dependencies import AuditDep, BudgetsDep, CatalogueDep, KeysDep, OverridesDep, PolicyDep, SettingsDep
from contracts.errors import DomainError, InvalidInput, NotFound
from gateway.identity.keys import ROLES
from gateway.services.budget_overrides import make_rule
from gateway.services.keys import NewKey
from gateway.budgets.service import BudgetService
from gateway.i18n import translate
from policies.check import Issue
from policies.engine import content_version

router = APIRouter(prefix="/admin", route_class=UiRoute)
VisitorDep = Depends(visitor)


@router.get("/models")
async def models(request: Request, catalogue: CatalogueDep, who: Visitor = VisitorDep) -> Response:
    who.require("admin")
    return render(request, who, "admin/models.html", models=catalogue.all())


async def _budget_rows(budgets: BudgetService, overrides: dict[str, BudgetRule]) -> list[dict[str, Any]]:
    """Each overridden or configured scope with its rule and current consumption."""
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


async def _budgets_page(request: Request, who: Visitor, budgets: BudgetService, overrides: OverridesDep,
                        error: DomainError | None = None, status_code: int = 200, form: dict[str, str] | None = None,
                        changed: str = "", removed: bool = False) -> Response:
    config = budgets.config
    defaults = [("employee", config.employee), ("department", config.department), ("use_case", config.use_case)]
    defaults += [(f"employee @ {name}", rule) for name, rule in config.employee_by_department.items()]
    defaults += [(f"employee + {role}", rule) for role, rule in config.employee_by_role.items()]
    rows = await _budget_rows(budgets, await overrides.overrides())
    return render(
        request, who, "admin/budgets.html", status_code=status_code,
        defaults=defaults, rows=rows, error=error, form=form or {},
        changed=changed if any(r["scope"] == changed for r in rows) or removed else "", removed=removed,
    )


@router.get("/budgets")
async def budgets_page(request: Request, budgets: BudgetsDep, overrides: OverridesDep, saved: str = "",
                       removed: str = "", who: Visitor = VisitorDep) -> Response:
    """`saved`/`removed`: the stored scope just changed (after post/redirect/get), to point it out."""
    who.require("admin")
    return await _budgets_page(request, who, budgets, overrides, changed=saved or removed, removed=bool(removed))


@router.post("/budgets")
async def set_override(request: Request, budgets: BudgetsDep, overrides: OverridesDep,
                       who: Visitor = VisitorDep) -> Response:
    """Set or remove an override through the budget override service (employee:<id> is pseudonymised there)."""
    admin = who.require("admin")
    form = await form_data(request, who)
    scope = form.get("scope", "")
    try:
        if form.get("action") == "remove":
            stored = form.get("stored_scope", "")
            await overrides.remove(admin.employee_id, stored or scope, stored_form=bool(stored))
            return redirect(request, who, "/ui/admin/budgets?removed=" + quote(stored or overrides.scope(scope)))
        rule = make_rule(form.get("eur"), form.get("gco2e_g"), form.get("window", "rolling"),
                         form.get("window_days", "30"), form.get("bucket_minutes", "60"))
        await overrides.set(admin.employee_id, scope, rule)
    except DomainError as error:
        return await _budgets_page(request, who, budgets, overrides, error, 404 if isinstance(error, NotFound) else 422,
                                   form=form)
    return redirect(request, who, "/ui/admin/budgets?saved=" + quote(overrides.scope(scope)))


NEW_KEY_COOKIE = "sobria_new_key"
NEW_KEY_PATH = "/ui/admin/keys/created"
NEW_KEY_MAX_AGE_S = 120


def _sealer(request: Request) -> Fernet:
    secret = request.app.state.settings.effective_session_secret()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"sobria-new-key:" + secret).digest()))


def _keys_page(request: Request, who: Visitor, listing: list[Any], *, created: str | None = None,
               error: DomainError | None = None, status_code: int = 200, form: dict[str, str] | None = None,
               shown_once: bool = False) -> Response:
    response = render(request, who, "admin/keys.html", status_code=status_code, keys=listing, roles=ROLES,
                      created=created, error=error, form=form or {}, shown_once=shown_once)
    if created:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/keys")
async def keys_page(request: Request, keys: KeysDep, who: Visitor = VisitorDep) -> Response:
    who.require("admin")
    return _keys_page(request, who, await keys.list())


@router.post("/keys")
async def create_key(request: Request, keys: KeysDep, who: Visitor = VisitorDep) -> Response:
    """Create a key through the key service, then redirect to the page that shows it once."""
    admin = who.require("admin")
    form = await form_data(request, who)
    roles = tuple(role for role in ROLES if form.get(f"role_{role}"))
    request_key = NewKey(form.get("employee", ""), form.get("department", ""), roles, form.get("name", ""))
    try:
        created = await keys.create(admin.employee_id, request_key)
    except InvalidInput as error:
        return _keys_page(request, who, await keys.list(), error=error, status_code=422, form=form)
    response = redirect(request, who, NEW_KEY_PATH)
    sealed = _sealer(request).encrypt(f"{admin.employee_id}\n{created.key}".encode()).decode()
    response.set_cookie(NEW_KEY_COOKIE, sealed, max_age=NEW_KEY_MAX_AGE_S, path=NEW_KEY_PATH, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


@router.get("/keys/created")
async def created_key(request: Request, keys: KeysDep, who: Visitor = VisitorDep) -> Response:
    """The key just created, shown this once; a reload says it was shown and cannot be shown again."""
    admin = who.require("admin")
    created = None
    try:
        opened = _sealer(request).decrypt(request.cookies.get(NEW_KEY_COOKIE, "").encode(), ttl=NEW_KEY_MAX_AGE_S)
        owner, _, key = opened.decode().partition("\n")
        created = key if owner == admin.employee_id else None
    except InvalidToken:
        pass
    response = _keys_page(request, who, await keys.list(), created=created, shown_once=created is None)
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(NEW_KEY_COOKIE, path=NEW_KEY_PATH)
    return response


@router.get("/keys/{key_id}/revoke")
async def confirm_revoke(key_id: str, request: Request, keys: KeysDep, who: Visitor = VisitorDep) -> Response:
    """Ask before revoking: which key, whose, and that every replica will refuse it."""
    who.require("admin")
    record = next((k for k in await keys.list() if k.key_id == key_id and k.revoked_at is None), None)
    if record is None:
        return render(request, who, "error.html", status_code=404, message_key="error.key_not_found")
    return render(request, who, "admin/revoke.html", key=record)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: str, request: Request, keys: KeysDep, who: Visitor = VisitorDep) -> Response:
    admin = who.require("admin")
    await form_data(request, who)
    try:
        await keys.revoke(admin.employee_id, key_id)
    except NotFound:
        return render(request, who, "error.html", status_code=404, message_key="error.key_not_found")
    return redirect(request, who, "/ui/admin/keys")


async def _policy_page(request: Request, who: Visitor, publishing: PolicyDep, text: str, status_code: int = 200,
                       **result: Any) -> Response:
    engine = publishing.engine
    versions = [{"version": v.version, "loaded_at": v.published_at.isoformat(), "actor": v.actor}
                for v in await publishing.history(20)]
    return render(
        request, who, "admin/policy.html", status_code=status_code,
        text=text, current=engine.version, label=engine.policy.version_label, versions=versions,
        issues=result.get("issues", []), changes=result.get("changes"), report=result.get("report"),
        published=result.get("published"), dry_run_of=result.get("dry_run_of"),
        dry_run_first=result.get("dry_run_first", False),
    )


@router.get("/policy")
async def policy_page(request: Request, publishing: PolicyDep, who: Visitor = VisitorDep) -> Response:
    who.require("admin")
    published = request.query_params.get("published")
    return await _policy_page(request, who, publishing, publishing.engine.text, published=published)


@router.post("/policy")
async def policy_submit(request: Request, publishing: PolicyDep, who: Visitor = VisitorDep) -> Response:
    """Dry run: validate, diff and replay the last days of the ledger. Publish: only the text just dry-run."""
    admin = who.require("admin")
    form = await form_data(request, who)
    text = form.get("text", "").replace("\r\n", "\n")
    publish = form.get("action") == "publish"
    if publish and form.get("dry_run_of") != content_version(text):
        publish = False
    try:
        outcome = await publishing.submit(text, admin.employee_id, publish, with_replay=not publish)
    except ValueError as unreadable:  # e.g. a YAML date that does not exist (2026-13-45), which the parser raises
        issue = Issue(0, translate("ui.policy.unreadable", who.lang, detail=str(unreadable)[:200]))
        return await _policy_page(request, who, publishing, text, 422, issues=[issue])
    if not outcome.valid:
        return await _policy_page(request, who, publishing, text, 422, issues=outcome.issues)
    if publish:
        return redirect(request, who, f"/ui/admin/policy?published={outcome.version}")
    return await _policy_page(request, who, publishing, text, changes=outcome.changes, report=outcome.replay,
                              dry_run_of=outcome.version, dry_run_first=form.get("action") == "publish")


@router.get("/audit")
async def audit_page(request: Request, audit: AuditDep, settings: SettingsDep, who: Visitor = VisitorDep) -> Response:
    """The latest entries, and the chain checked against this gateway's signed checkpoints."""
    who.require("admin")
    verification = await audit.verify(read_checkpoints(settings.effective_audit_checkpoint_path))
    return render(request, who, "admin/audit.html", entries=await audit.entries(limit=200), verification=verification)
