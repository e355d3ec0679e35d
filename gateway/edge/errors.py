"""OpenAI-shaped errors: one exception type for the gateway, one JSON shape for clients.

Every refusal the gateway makes is a `GatewayError` carrying a status, a stable
`code` and a message key of the catalogue; the handlers here turn it (and FastAPI's
own validation and HTTP errors, and anything unexpected) into
`{"error": {"message", "type", "code", "param"}}` in the reader's language.
"""

from __future__ import annotations

import json
import logging
import uuid
from decimal import Decimal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.errors import Conflict, DomainError, Incomplete, InvalidInput, NotFound, OverLimit, Refused, Unavailable
from gateway.i18n import formatting, negotiate, translate

log = logging.getLogger("sobria.errors")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    431: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "service_unavailable_error",
    504: "timeout_error",
}


#: The model-facing endpoints, named in the 404 of any other path.
SUPPORTED_ENDPOINTS = (
    "POST /v1/chat/completions, POST /v1/responses, POST /v1/messages, POST /v1/embeddings, "
    "GET /v1/models, GET /v1/models/{id}, GET /v1/me/usage"
)


class GatewayError(Exception):
    """A refusal with an HTTP status, a stable code and a catalogue message."""

    def __init__(
        self,
        status: int,
        code: str,
        message_key: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        **params: object,
    ):
        super().__init__(code)
        self.status = status
        self.code = code
        self.message_key = message_key or f"error.{code}"
        self.param = param
        self.headers = headers or {}
        self.params = params

    def message(self, language: str = "en") -> str:
        """The message in `language`: amounts (Decimal) in its number format, `retry_after` seconds as a wait."""
        params = {name: formatting.plain(value, language) if isinstance(value, Decimal) else value
                  for name, value in self.params.items()}
        wait = params.get("retry_after")
        if isinstance(wait, int):
            params["retry_after"] = formatting.duration(wait, language)
        scope = params.get("scope")
        if isinstance(scope, str):
            params["scope"] = budget_in_words(scope, language)
        return translate(self.message_key, language, **params)


_SCOPE_KINDS = frozenset({"employee", "department", "use_case", "org"})


def budget_in_words(scope: str, language: str) -> str:
    """A budget scope (`employee`, `department:sales`, ...) as a reader says it: "your
    budget", "le budget de la direction sales"; an unknown kind stays as written."""
    kind, _, name = scope.partition(":")
    return translate(f"error.scope.{kind}", language, name=name) if kind in _SCOPE_KINDS else scope


_DOMAIN_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidInput, 400),
    (NotFound, 404),
    (Refused, 403),
    (Conflict, 409),
    (Incomplete, 422),
    (OverLimit, 429),
    (Unavailable, 503),
)


def from_domain(error: DomainError) -> GatewayError:
    """The HTTP form of a domain error: the one place a domain error gets a status."""
    status = next((code for kind, code in _DOMAIN_STATUS if isinstance(error, kind)), 500)
    headers = {"Retry-After": str(error.retry_after_s)} if isinstance(error, OverLimit) else None
    converted = GatewayError(status, error.code, error.message_key, error.param, headers)
    converted.params = dict(error.params)
    return converted


def as_refusal(error: GatewayError | DomainError) -> GatewayError:
    """Either kind of refusal in its HTTP form (the request path records the status it answers)."""
    return error if isinstance(error, GatewayError) else from_domain(error)


def code_and_status(error: GatewayError | DomainError) -> tuple[str, int]:
    """The error code and HTTP status of either kind of refusal, as plain values. A frame
    that keeps the refusal itself in a local and then re-raises it is in the error's own
    traceback: a reference cycle left to the garbage collector, once per refused request."""
    refusal = as_refusal(error)
    return refusal.code, refusal.status


def status_of(error: GatewayError | DomainError) -> int:
    """The HTTP status of either kind of error (for pages that show one inline)."""
    return error.status if isinstance(error, GatewayError) else from_domain(error).status


def error_body(status: int, code: str, message: str, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": _TYPES.get(status, "api_error"), "code": code, "param": param}}


def error_response(error: GatewayError, request: Request) -> JSONResponse:
    language = negotiate(request.headers.get("accept-language"))
    body = error_body(error.status, error.code, error.message(language), error.param)
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def _validation_detail(exc: RequestValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(location) or None
    detail = f"{param}: {first.get('msg', 'invalid')}" if param else str(first.get("msg", "invalid"))
    return detail, param


def install_error_handlers(app: FastAPI) -> None:
    """Route every error the app can raise to the OpenAI shape."""

    @app.exception_handler(GatewayError)
    async def _gateway(request: Request, exc: GatewayError) -> JSONResponse:
        return error_response(exc, request)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return error_response(from_domain(exc), request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, param = _validation_detail(exc)
        return error_response(GatewayError(400, "invalid_request", param=param, detail=detail), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        if code is None:
            code = "invalid_request"
        if exc.status_code == 404 and exc.detail == "Not Found":
            # No route: say which endpoints exist, as a client author needs to know.
            error = GatewayError(404, "unknown_endpoint", path=request.url.path[:200], endpoints=SUPPORTED_ENDPOINTS)
            return error_response(error, request)
        error = GatewayError(exc.status_code, code, detail=str(exc.detail))
        return error_response(error, request)

    @app.exception_handler(json.JSONDecodeError)
    async def _json(request: Request, exc: json.JSONDecodeError) -> JSONResponse:
        return error_response(GatewayError(400, "invalid_json", detail=str(exc)), request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        reference = getattr(request.state, "request_id", None) or uuid.uuid4().hex
        log.exception("unexpected error", extra={"request_id": reference})
        return error_response(GatewayError(500, "internal", request_id=reference), request)
