"""Request size limits enforced before a body is parsed: headers (431) and body (413)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.edge.errors import error_body
from gateway.i18n import negotiate, translate


class HeaderSizeLimit:
    """Refuse requests whose headers total over `max_bytes` with a 431 in OpenAI shape.

    The HTTP server parses headers of any size; this check runs before anything else
    reads them. A header counts its name, its value and the 4 bytes of `: ` and CRLF."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self.max_bytes:
                await _refuse(scope, send, 431, "headers_too_large", self.max_bytes)
                return
        await self.app(scope, receive, send)


class BodySizeLimit:
    """Refuse bodies over `max_bytes` with a 413 in OpenAI shape, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        seen = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        await _refuse(scope, send, 413, "body_too_large", self.max_bytes)


async def _refuse(scope: Scope, send: Send, status: int, code: str, limit: int) -> None:
    """Answer an error in OpenAI shape, in the caller's language, without calling the app."""
    import orjson

    language = negotiate(dict(scope["headers"]).get(b"accept-language", b"").decode("latin-1"))
    body = orjson.dumps(error_body(status, code, translate(f"error.{code}", language, limit=limit)))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    """Raised inside the app when the streamed body passes the limit."""
