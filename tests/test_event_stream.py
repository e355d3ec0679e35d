"""An event stream's start and end go through the middleware chain, its chunks straight to the server."""

from __future__ import annotations

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
