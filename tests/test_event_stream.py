"""An event stream's start and end go through the middleware chain, its chunks straight to the server."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.edge.event_stream import EventStreamResponse, ServerSendCapture


class SeenBySend:
    """A middleware noting the type of every message sent through it."""

    seen: list[str] = []

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def noting(message: Message) -> None:
            SeenBySend.seen.append(message["type"])
            await send(message)

        await self.app(scope, receive, noting)


async def events() -> AsyncIterator[bytes]:
    for i in range(3):
        yield b"data: %d\n\n" % i


def application(kind: type[FastAPI]) -> FastAPI:
    app = kind()
    app.add_middleware(SeenBySend)

    @app.get("/events")
    async def stream() -> EventStreamResponse:
        return EventStreamResponse(events(), headers={"X-Probe": "1"})

    return app


async def get_events(app: FastAPI) -> httpx.Response:
    SeenBySend.seen = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.get("/events")


async def test_with_the_server_send_captured_the_chain_sees_the_start_and_the_end_the_client_every_chunk():
    answer = await get_events(application(ServerSendCapture))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["x-probe"] == "1"
    assert answer.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert SeenBySend.seen == ["http.response.start", "http.response.body"]


async def test_without_the_capture_every_message_goes_through_the_chain():
    answer = await get_events(application(FastAPI))
    assert answer.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert SeenBySend.seen == ["http.response.start"] + ["http.response.body"] * 4


class ServerRequest:
    """What a server such as uvicorn keeps per request: the scope, and `send` as its own bound method."""

    def __init__(self) -> None:
        self.scope: Scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                             "scheme": "http", "path": "/events", "raw_path": b"/events", "root_path": "",
                             "query_string": b"", "headers": [], "server": ("test", 80), "client": ("test", 1)}
        self.body = b""
        self.requested = False

    async def receive(self) -> Message:
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays: a server answers only when it goes away
        raise AssertionError("unreachable")

    async def send(self, message: Message) -> None:
        self.body += message.get("body", b"")


async def test_a_finished_request_leaves_no_reference_cycle_to_the_server_request():
    app = application(ServerSendCapture)
    request = ServerRequest()
    gc.disable()
    try:
        await app(request.scope, request.receive, request.send)
        assert request.body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
        gone = weakref.ref(request)
        del request
        assert gone() is None  # freed by its reference count, without waiting for the cyclic collector
    finally:
        gc.enable()
