"""The /ui router and its static files; `install(app)` mounts both on the gateway."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from admin_ui.oidc import OidcClient, OidcSettings
from admin_ui.session import SessionCodec
from admin_ui.views import admin, auth, committee, csr, employee, errors
from admin_ui.web import STATIC

router = APIRouter(prefix="/ui", include_in_schema=False)
router.include_router(auth.router)
router.include_router(employee.router)
router.include_router(committee.router)
router.include_router(admin.router)
router.include_router(csr.router)
router.include_router(errors.router)


class ImmutableStatic(StaticFiles):
    """Static files whose URLs carry a content hash, so browsers keep them for a year."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
            response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install(app: FastAPI) -> None:
    """Mount the pages and their static files; the session codec is built at start-up."""
    settings = app.state.settings
    app.state.ui_sessions = SessionCodec(settings.effective_session_secret())
    app.state.ui_oidc = OidcClient(OidcSettings.of(settings), settings.effective_session_secret())
    app.mount("/ui/static", ImmutableStatic(directory=STATIC), name="ui-static")
    app.include_router(router)
