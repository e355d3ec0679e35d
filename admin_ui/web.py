"""What every page needs: the visitor (session, principal, language), rendering and guards.

Routes raise `SignInRequired` or `Forbidden`; `UiRoute` turns them into a redirect to
the sign-in page or an HTML 403, so the server enforces roles whatever the links show.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gateway.i18n import formatting
from admin_ui.session import COOKIE_NAME, Session, SessionCodec
from gateway.identity.auth import Principal
from gateway.i18n import negotiate, say, translate
from gateway.edge.dependencies import services_of
from gateway.identity.keys import ROLES, KeyRecord

HERE = Path(__file__).parent
STATIC = HERE / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "private, no-cache",
}


class SignInRequired(Exception):
    """No signed-in visitor: go to the sign-in page."""


class Forbidden(Exception):
    """Signed in, but without the role (or a bad CSRF token)."""

    def __init__(self, reason_key: str = "ui.error.forbidden"):
        super().__init__(reason_key)
        self.reason_key = reason_key


@dataclass(slots=True)
class Visitor:
    """Who is looking at the page, in which language, and whether their cookie must be (re)set."""

    session: Session
    principal: Principal | None
    lang: str
    set_cookie: bool = False
    flashes: list[str] = field(default_factory=list)

    def require(self, role: str) -> Principal:
        if self.principal is None:
            raise SignInRequired()
        if not self.principal.has(role):
            raise Forbidden()
        return self.principal


@lru_cache(maxsize=1)
def static_version() -> str:
    """Content hash of the static files: part of their URL, so they can be cached for a year."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_version"] = static_version
    env.globals["parse_moment"] = datetime.fromisoformat
    return env


def codec(request: Request) -> SessionCodec:
    sessions: SessionCodec = request.app.state.ui_sessions
    return sessions


async def principal_for_key_id(request: Request, key_id: str) -> Principal | None:
    """The principal of an active key, on every page, through the key service (its cache and database-down mode)."""
    return await services_of(request).keys.principal_for_key_id(key_id)


def principal_for(request: Request, record: KeyRecord) -> Principal:
    """The principal of a key just checked at sign-in (built by the key service, as on every later page)."""
    return services_of(request).keys.principal_of(record)


def employee_principal(request: Request, employee_id: str, department: str,
                       roles: tuple[str, ...] | frozenset[str] = ()) -> Principal:
    """Someone signed in through the identity provider, no key: an employee, plus the roles its groups map to."""
    return Principal(
        employee_id=employee_id,
        pseudonym=request.app.state.authenticator.pseudonym(employee_id),
        department=department,
        roles=frozenset({"employee"} | (set(roles) & set(ROLES))),
        key_id="",
    )


async def visitor(request: Request) -> Visitor:
    """FastAPI dependency: the visitor of this request (an anonymous session is created if needed)."""
    sessions = codec(request)
    lang = negotiate(request.headers.get("accept-language"))
    session = sessions.decode(request.cookies.get(COOKIE_NAME))
    if session is None:
        return Visitor(Session.anonymous(sessions.max_age_s), None, lang, set_cookie=True)
    if session.employee_id and not session.key_id:
        return Visitor(session, employee_principal(request, session.employee_id, session.department or "",
                                                   session.roles), lang)
    principal = await principal_for_key_id(request, session.key_id) if session.key_id else None
    if session.key_id and principal is None:
        return Visitor(Session.anonymous(sessions.max_age_s), None, lang, set_cookie=True)
    return Visitor(session, principal, lang)


async def form_data(request: Request, visitor: Visitor) -> dict[str, str]:
    """The posted form (url-encoded), after checking its CSRF token against the session's."""
    body = (await request.body()).decode("utf-8", errors="replace")
    fields = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
    if not visitor.session.csrf_matches(fields.get("csrf")):
        raise Forbidden("ui.error.csrf")
    return fields


def write_cookie(request: Request, response: Response, session: Session) -> None:
    sessions = codec(request)
    response.set_cookie(
        COOKIE_NAME,
        sessions.encode(session),
        max_age=sessions.max_age_s,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _compressed(request: Request, body: bytes, response: Response) -> bytes:
    if len(body) > 1024 and "gzip" in request.headers.get("accept-encoding", ""):
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding, Accept-Language, Cookie"
        return gzip.compress(body, compresslevel=6)
    return body


def render(request: Request, visitor: Visitor, template: str, status_code: int = 200, **context: Any) -> Response:
    """An HTML page in the visitor's language, with security and cache headers."""
    lang = visitor.lang
    html = environment().get_template(template).render(
        request=request,
        visitor=visitor,
        principal=visitor.principal,
        lang=lang,
        csrf=visitor.session.csrf,
        t=partial(translate, language=lang),
        say=partial(say, language=lang),
        fmt=_Formatter(lang),
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(b"", status_code=status_code, headers=SECURITY_HEADERS)
    body = _compressed(request, html.encode("utf-8"), response)
    response.body = body
    response.headers["Content-Length"] = str(len(body))
    if visitor.set_cookie:
        write_cookie(request, response, visitor.session)
    return response


def redirect(request: Request, visitor: Visitor, to: str) -> Response:
    """303 after a successful POST (post/redirect/get)."""
    response = RedirectResponse(to, status_code=303, headers={"Cache-Control": "no-store"})
    if visitor.set_cookie:
        write_cookie(request, response, visitor.session)
    return response


class _Formatter:
    """Formatting helpers bound to one language, for templates."""

    def __init__(self, lang: str):
        self.lang = lang

    def __getattr__(self, name: str) -> Callable[..., str]:
        function = getattr(formatting, name)
        return lambda value, *args, **kwargs: function(value, self.lang, *args, **kwargs)


class UiRoute(APIRoute):
    """Renders `SignInRequired` as a redirect and `Forbidden` as an HTML 403."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                target = "/ui/sign-in?next=" + quote(request.url.path, safe="/")
                return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
            except Forbidden as refusal:
                who = await visitor(request)
                return render(request, who, "error.html", status_code=403, title_key="ui.error.title",
                              message_key=refusal.reason_key)

        return guarded
