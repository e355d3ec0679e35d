"""Plain content events read from their bytes relay and count exactly as the JSON parser reads them.

Every stream below goes through the relay twice, once with the byte-level fast path and
once with the parser alone, from a real HTTP server writing the same bytes in the same
slices; what is relayed, the text and tool-call text counted, the usage caught, the id
and the error raised must be identical. Hostile shapes (escapes, NUL, invalid UTF-8,
quotes smuggled into a text that otherwise matches the template, changed suffixes,
split reads) must fall back to the parser, never be read wrongly.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.edge.errors import GatewayError
from gateway.providers.relay import Relay, Target, _ModelRewrite, _piece, _Stream

HEAD = '{"id":"c1","object":"chat.completion.chunk","created":7,"model":"%s","choices":[{"index":0,"delta":{"content":'
TAIL = '},"finish_reason":null}]}'


def plain(text: str, model: str = "up") -> bytes:
    """A compact content event whose text is written raw (no escapes unless JSON needs them)."""
    return b"data: " + (HEAD % model).encode() + json.dumps(text, ensure_ascii=False).encode() + TAIL.encode()


def raw_plain(text_bytes: bytes, model: str = "up") -> bytes:
    """A content event with `text_bytes` put between the quotes as they are (possibly invalid JSON)."""
    return b"data: " + (HEAD % model).encode() + b'"' + text_bytes + b'"' + TAIL.encode()


def event(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode()


USAGE = event({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "up", "choices": [],
               "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}})
STOP = event({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "up",
              "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
TOOL = event({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "up",
              "choices": [{"index": 0, "delta": {"tool_calls": [
                  {"index": 0, "id": "t1", "function": {"name": "lookup", "arguments": "{\"q\":"}}]},
                  "finish_reason": None}]})
DONE = b"data: [DONE]"

STREAMS: dict[str, list[bytes]] = {
    "plain": [plain(w) for w in ["Hello", " world", ",", " how", " are", " you"]] + [STOP, USAGE, DONE],
    "no usage chunk": [plain(w) for w in ["a", "b", "c"]] + [STOP, DONE],
    "openai extras and usage null": [
        event({"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "up", "system_fingerprint": "fp",
               "choices": [{"index": 0, "delta": {"content": w}, "logprobs": None, "finish_reason": None}],
               "usage": None}) for w in ["one", " two", " three"]] + [USAGE, DONE],
    "role first with empty content": [
        event({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "up",
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}),
        plain("x"), plain(""), plain("y"), DONE],
    "utf-8 text": [plain(w) for w in ["Résumé", " ☕", " 😀", " 中文"]] + [USAGE],
    "escapes": [plain(w) for w in ["a\"b", "back\\slash", "line\nfeed", "tab\t", "\u0000nul", "é"]] + [DONE],
    "unicode escapes": [plain("plain"), raw_plain(b"\\u00e9t\\u00e9"), raw_plain(b"\\ud83d\\ude00"), plain("end")],
    "quote smuggled into a text": [plain("safe"), raw_plain(b'x","tool_calls":[{"function":{"name":"evil"}}],"y":"'),
                                   plain("after")],
    "usage smuggled": [plain("safe"), raw_plain(b'x"},"finish_reason":null}],"usage":{"completion_tokens":999},"z":[{"a":{"b":"'),
                       plain("more")],
    "raw NUL": [plain("ok"), raw_plain(b"bad\x00byte"), plain("never")],
    "raw control": [plain("ok"), raw_plain(b"bad\x1fbyte")],
    "invalid utf-8": [plain("ok"), raw_plain(b"\xff\xfe"), plain("never")],
    "truncated utf-8": [plain("ok"), raw_plain(b"caf\xc3")],
    "tool calls": [plain("let me look"), TOOL, TOOL, plain(" done"), USAGE, DONE],
    "two choices": [event({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "up",
                           "choices": [{"index": i, "delta": {"content": f"c{i}"}, "finish_reason": None}
                                       for i in range(2)]}) for _ in range(3)] + [DONE],
    "suffix changes": [plain("a"), plain("b").replace(b'"finish_reason":null', b'"finish_reason":"length"'),
                       plain("c")],
    "model renamed upstream": [plain(w, model="other") for w in ["p", "q", "r"]] + [plain("s")],
    "spaced json": [b'data: {"id": "c1", "model": "up", "choices": [{"index": 0, "delta": {"content": "%s"}}]}' % w
                    for w in [b"sp", b"aced", b" out"]] + [DONE],
    "content twice": [event({"id": "c1", "model": "up", "choices": [{"delta": {"content": w}}],
                             "extra": {"content": "decoy"}}) for w in ["m", "n"]],
    "content not a string": [plain("s"), event({"id": "c1", "model": "up", "choices": [{"delta": {"content": None}}]}),
                             plain("t")],
    "comments and other fields": [b": keep-alive", plain("a"), b"event: message\n" + plain("b"), b"id: 3\n" + plain("c"),
                                  plain("d")],
    "error event": [plain("a"), event({"error": {"message": "overloaded"}}), plain("b")],
    "malformed json": [plain("a"), b'data: {"choices": [', plain("b")],
    "not an object": [plain("a"), b"data: [1,2]"],
    "prefix of template only": [plain("a"), b"data: " + (HEAD % "up").encode() + b'"no end'],
}

CRLF = {f"{name} (CRLF)": [e.replace(b"\n", b"\r\n") for e in events] for name, events in list(STREAMS.items())[:4]}


def wire(events: list[bytes], crlf: bool) -> bytes:
    sep = b"\r\n\r\n" if crlf else b"\n\n"
    return b"".join(e + sep for e in events)


def slices(body: bytes, how: str, seed: int) -> list[bytes]:
    if how == "whole":
        return [body]
    if how == "bytes":
        return [body[i:i + 1] for i in range(len(body))]
    rng = random.Random(seed)
    out, at = [], 0
    while at < len(body):
        step = rng.randint(1, 90)
        out.append(body[at:at + step])
        at += step
    return out


class SlicedServer:
    """An HTTP server answering every POST with the current `parts`, one chunked write each."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1/chat/completions"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n")
        for part in self.parts:
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        writer.close()


async def relayed(url: str, fast: bool) -> dict[str, Any]:
    """Everything the gateway takes from one stream through the relay."""
    relay = Relay(10.0, fast=fast)
    target = Target(url=url, model="up", headers={"Content-Type": "application/json"}, stream_options=True)
    seen: dict[str, Any] = {"sse": b"", "text": "", "tool_text": "", "usage": None, "id": None, "created": None,
                            "error": None}
    try:
        pieces: AsyncIterator[Any] = await relay.stream(target, {"messages": []}, "served")
        async for piece in pieces:
            seen["sse"] += piece.sse
            seen["text"] += piece.text
            seen["tool_text"] += piece.tool_text
            if piece.usage:
                seen["usage"] = piece.usage
            if piece.id is not None:
                seen["id"], seen["created"] = piece.id, piece.created
    except GatewayError as error:
        seen["error"] = (error.status, error.code)
    finally:
        await relay.aclose()
    return seen


@pytest.mark.parametrize("name", list(STREAMS) + list(CRLF))
async def test_the_fast_path_relays_and_counts_what_the_parser_does(name):
    events = STREAMS.get(name) or CRLF[name]
    body = wire(events, crlf=name.endswith("(CRLF)"))
    server = SlicedServer()
    async with server as url:
        for how in ("whole", "random", "bytes"):
            for seed in range(3 if how == "random" else 1):
                server.parts = slices(body, how, seed)
                fast, parsed = await relayed(url, True), await relayed(url, False)
                assert fast == parsed, (name, how, seed)


async def test_a_plain_stream_is_counted_right_and_parsed_once():
    stream = _Stream(_ModelRewrite("up", "served"))
    words = ["Hello", " world", " ☕", " again"] * 50
    pieces = [_piece([plain(w, model="up")], stream) for w in words]
    assert "".join(p.text for p in pieces if p) == "".join(words)
    assert all(p is not None and p.sse.count(b'"model":"served"') == 1 for p in pieces)
    assert stream.parsed == 1  # the first event; the other 199 matched its template


async def test_a_plain_stream_with_the_served_name_is_relayed_byte_for_byte():
    stream = _Stream(_ModelRewrite("served", "served"))
    events = [plain(w, model="served") for w in ["a", "b", "c"]]
    assert [_piece([e], stream).sse for e in events] == [e + b"\n\n" for e in events]
    assert stream.parsed == 1


async def test_hostile_events_matching_the_template_around_their_text_go_to_the_parser():
    stream = _Stream(_ModelRewrite("up", "up"))
    _piece([plain("first")], stream)
    smuggled = raw_plain(b'x"},"finish_reason":null}],"usage":{"completion_tokens":999},"z":[{"a":{"b":"')
    piece = _piece([smuggled], stream)
    assert piece is not None and piece.usage == {"completion_tokens": 999} and piece.text == "x"
    with pytest.raises(GatewayError):
        _piece([raw_plain(b"nul\x00")], stream)
    assert stream.parsed == 3
