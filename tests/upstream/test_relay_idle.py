"""A stream whose upstream goes silent ends with 504 once it has been silent for the
timeout (found by the relay's idle sweep), after the chunks it did send."""

from __future__ import annotations

import asyncio

import pytest

from gateway.edge.errors import GatewayError
from gateway.providers.relay import Relay, Target

EVENT = b'data: {"id":"c","model":"up","choices":[{"index":0,"delta":{"content":"tick"}}]}\n\n'


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunks: int, gap_s: float) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    await reader.readexactly(length)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(chunks):
        writer.write(b"%x\r\n%s\r\n" % (len(EVENT), EVENT))
        await writer.drain()
        await asyncio.sleep(gap_s)
    await asyncio.sleep(30)  # silent, connection open
    writer.close()


async def _texts(chunks: int, gap_s: float, timeout_s: float) -> tuple[list[str], GatewayError | None]:
    server = await asyncio.start_server(lambda r, w: _serve(r, w, chunks, gap_s), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    relay = Relay(timeout_s)
    relay.idle.every_s = 0.05
    target = Target(url=f"http://127.0.0.1:{port}/v1/chat/completions", model="up", headers={}, stream_options=True)
    texts: list[str] = []
    error = None
    try:
        async for piece in await relay.stream(target, {"messages": []}, "up"):
            texts.append(piece.text)
    except GatewayError as caught:
        error = caught
    finally:
        await relay.aclose()
        server.close()
    return texts, error


async def test_a_stream_silent_for_the_timeout_ends_with_504_after_what_it_sent():
    texts, error = await _texts(chunks=3, gap_s=0.05, timeout_s=0.5)
    assert texts == ["tick"] * 3
    assert error is not None and (error.status, error.code) == (504, "upstream_timeout")


async def test_a_slow_but_steady_stream_is_not_cut_by_the_sweep():
    texts, error = await _texts(chunks=8, gap_s=0.2, timeout_s=0.5)  # 1.6 s in all, over three timeouts
    assert texts == ["tick"] * 8
    assert error is not None and error.code == "upstream_timeout"  # only once the upstream fell silent


async def test_the_answer_head_is_bounded_by_the_timeout_too():
    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    server = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    relay = Relay(0.3)
    target = Target(url=f"http://127.0.0.1:{port}/v1/chat/completions", model="up", headers={}, stream_options=True)
    try:
        with pytest.raises(GatewayError) as caught:
            await relay.stream(target, {"messages": []}, "up")
        assert caught.value.status == 504
    finally:
        await relay.aclose()
        server.close()
