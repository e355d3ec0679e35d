"""Sign in with a Sobria key, sign out."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from admin_ui.web import UiRoute, Visitor, form_data, principal_for, redirect, render, visitor

router = APIRouter(route_class=UiRoute)


def _safe_next(target: str | None) -> str:
    """Only a path inside the UI: never an open redirect."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return "/ui/me"


@router.get("/")
async def home(request: Request, who: Visitor = Depends(visitor)) -> Response:
    return redirect(request, who, "/ui/me" if who.principal else "/ui/sign-in")


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None, who: Visitor = Depends(visitor)) -> Response:
    return render(request, who, "sign_in.html", next=_safe_next(next), error=None)


@router.post("/sign-in")
async def sign_in(request: Request, who: Visitor = Depends(visitor)) -> Response:
    form = await form_data(request, who)
    record = await request.app.state.keys.find(form.get("key", "").strip())
    target = _safe_next(form.get("next"))
    if record is None or record.trusted_frontend:
        return render(request, who, "sign_in.html", status_code=401, next=target, error="ui.signin.invalid")
    who.session = who.session.signed_in(record.key_id, request.app.state.ui_sessions.max_age_s)
    who.principal = principal_for(request, record)
    who.set_cookie = True
    return redirect(request, who, target)


@router.post("/sign-out")
async def sign_out(request: Request, who: Visitor = Depends(visitor)) -> Response:
    await form_data(request, who)
    who.session = type(who.session).anonymous(request.app.state.ui_sessions.max_age_s)
    who.principal = None
    who.set_cookie = True
    return redirect(request, who, "/ui/sign-in")
