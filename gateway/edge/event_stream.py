"""Server-sent events relayed with as little work per chunk as the ASGI contract allows.

A gateway worker relays thousands of long streams at once, each chunk through every
`send` wrapper of the middleware chain: Starlette's error and exception middlewares,
FastAPI's telemetry and `RefusalTrace` each add a coroutine call per chunk, and all of
them only look at the response's start and end (`bench/streams_scale.py` puts those
wrappers at about 6 % of a saturated worker). `ServerSendCapture` keeps the server's own
`send` in the scope; an `EventStreamResponse` sends its start and its final empty
message through the chain, so every wrapper still sees both, and the chunks in between
straight to the server. A middleware that needs to see or change body bytes
(compression, say) must not be put in front of these responses."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

#: The scope key under which the server's own `send` is kept.
SERVER_SEND = "sobria.server_send"


class ServerSendCapture(FastAPI):
    """The FastAPI application, keeping the server's `send` in each HTTP request's scope."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        scope[SERVER_SEND] = send
        try:
            await super().__call__(scope, receive, send)
        finally:
            # The server's request object holds the scope, and its bound `send` holds the
            # server's request object: left in place, that cycle (with the transport, the
            # request state and the exit stacks, about 26 objects a request) waits for the
            # cyclic garbage collector instead of being freed as the request ends.
            scope.pop(SERVER_SEND, None)


class EventStreamResponse(StreamingResponse):
    """`text/event-stream` whose start and end go through the middleware chain and whose
    body chunks go to the server's `send` when the application captured it."""

    media_type = "text/event-stream"
    _body_send: Send | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._body_send = scope.get(SERVER_SEND)
        await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        body_send = self._body_send or send
        async for chunk in self.body_iterator:
            if not isinstance(chunk, bytes | memoryview):
                chunk = chunk.encode(self.charset)
            await body_send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
