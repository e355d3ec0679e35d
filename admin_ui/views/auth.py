"""Sign in with a Sobria key or through the organisation's identity provider (OIDC), sign out."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from admin_ui.oidc import FLOW_COOKIE, FLOW_MAX_AGE_S, OidcClient, OidcError
from admin_ui.web import (
    UiRoute,
    Visitor,
    employee_principal,
    form_data,
    principal_for,
    redirect,
    render,
    visitor,
)

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
    return _sign_in_page(request, who, _safe_next(next))


def _oidc(request: Request) -> OidcClient:
    return request.app.state.ui_oidc


def _sign_in_page(request: Request, who: Visitor, target: str, error: str | None = None,
                  status_code: int = 200) -> Response:
    return render(request, who, "sign_in.html", status_code=status_code, next=target, error=error,
                  oidc=_oidc(request).enabled)


def _callback_url(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


@router.get("/sign-in/oidc")
async def oidc_start(request: Request, next: str | None = None, who: Visitor = Depends(visitor)) -> Response:
    """Send the employee to the identity provider (authorization code flow with PKCE)."""
    client = _oidc(request)
    if not client.enabled:
        return _sign_in_page(request, who, _safe_next(next), "ui.oidc.disabled", 404)
    try:
        url, flow = await client.start(_callback_url(request), _safe_next(next))
    except OidcError as failure:
        return _sign_in_page(request, who, _safe_next(next), failure.reason, 502)
    response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(FLOW_COOKIE, flow, max_age=FLOW_MAX_AGE_S, path="/ui/oidc", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return response


@router.get("/oidc/callback", name="oidc_callback")
async def oidc_callback(request: Request, state: str | None = None, code: str | None = None,
                        who: Visitor = Depends(visitor)) -> Response:
    """Back from the identity provider: check the flow, sign the employee in, go where they were heading."""
    try:
        identity, target = await _oidc(request).finish(_callback_url(request), request.cookies.get(FLOW_COOKIE),
                                                       state, code, request.app.state.authenticator)
    except OidcError as failure:
        return _sign_in_page(request, who, "/ui/me", failure.reason, 401)
    who.session = who.session.signed_in_employee(identity.employee_id, identity.department,
                                                 request.app.state.ui_sessions.max_age_s, tuple(identity.roles))
    who.principal = employee_principal(request, identity.employee_id, identity.department, identity.roles)
    who.set_cookie = True
    # A page rather than a redirect: arriving from the provider is a cross-site navigation, during
    # which the SameSite=Strict session cookie just set would not be sent on a redirect.
    response = render(request, who, "signed_in.html", target=_safe_next(target))
    response.delete_cookie(FLOW_COOKIE, path="/ui/oidc")
    return response


@router.post("/sign-in")
async def sign_in(request: Request, who: Visitor = Depends(visitor)) -> Response:
    form = await form_data(request, who)
    record = await request.app.state.keys.find(form.get("key", "").strip())
    target = _safe_next(form.get("next"))
    if record is None or record.trusted_frontend:
        return _sign_in_page(request, who, target, "ui.signin.invalid", 401)
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
