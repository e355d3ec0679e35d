"""A fast OpenAI-compatible upstream for tests and benchmarks, on loopback.

`POST /v1/chat/completions` answers with `--output-tokens` words after `--delay-ms`,
plain or streamed (one chunk per token, then a usage chunk when asked). The model
name chooses a behaviour, so one server can play several deployments:
`fail-500*` answers 500, `bad-request*` answers 400, `slow*` waits `--slow-ms` before
answering, `cut*` drops the connection mid-stream, `garbage*` returns malformed JSON.
Everything else works. With `--pace-ms P`, streams are paced instead: one content chunk
every P ms for `--stream-s` seconds, each chunk's content carrying the time it was sent
(`t<unix seconds> `) so a client can tell the delay any hop added.
Counts of calls per model are served at `GET /stats` so tests can see what reached it.

Run: python bench/mock_upstream.py --port 9100 [--delay-ms 0] [--output-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from functools import lru_cache

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def build_app(delay_ms: float = 0.0, output_tokens: int = 64, slow_ms: float = 3000.0, pace_ms: float = 0.0,
              stream_s: float = 30.0) -> Starlette:
    calls: Counter[str] = Counter()
    created = int(time.time())

    @lru_cache(maxsize=1024)
    def plain(model: str, count: int, prompt: int) -> bytes:
        text = " ".join(f"w{i}" for i in range(count))
        return json.dumps({
            "id": f"chatcmpl-mock-{created}",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": count, "total_tokens": prompt + count},
        }).encode()

    @lru_cache(maxsize=1024)
    def events(model: str, count: int, prompt: int, include_usage: bool) -> tuple[bytes, ...]:
        return tuple(_chunks(model, count, prompt, created, include_usage))

    async def completions(request: Request) -> Response:
        body = json.loads(await request.body())
        model = str(body.get("model", "mock"))
        calls[model] += 1
        if model.startswith("fail-500"):
            return JSONResponse({"error": {"message": "mock failure", "type": "server_error"}}, status_code=500)
        if model.startswith("bad-request"):
            return JSONResponse({"error": {"message": "mock bad request", "type": "invalid_request_error"}},
                                status_code=400)
        if model.startswith("garbage"):
            return Response(b'{"id": "x", "choices": [', media_type="application/json")
        if model.startswith("slow"):
            await asyncio.sleep(slow_ms / 1000)
        elif delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        limit = body.get("max_tokens") or body.get("max_completion_tokens") or output_tokens
        count = max(1, min(int(limit), output_tokens))
        prompt = sum(len(str(m.get("content", ""))) // 4 + 4 for m in body.get("messages", []))
        if body.get("stream") and pace_ms:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = max(1, round(stream_s * 1000 / pace_ms))
            return StreamingResponse(_paced(model, chunks, prompt, created, include_usage, pace_ms / 1000),
                                     media_type="text/event-stream")
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _replay(events(model, count, prompt, include_usage), cut=model.startswith("cut")),
                media_type="text/event-stream",
            )
        return Response(plain(model, count, prompt), media_type="application/json")

    async def stats(_: Request) -> Response:
        return JSONResponse(dict(calls))

    async def models(_: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "mock", "object": "model", "owned_by": "mock"}]})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/chat/completions", completions, methods=["POST"]),
            Route("/v1/models", models),
            Route("/stats", stats),
        ]
    )


async def _replay(events: tuple[bytes, ...], cut: bool):
    """Send prepared SSE events one by one; a `cut` stream breaks off half-way."""
    for i, event in enumerate(events):
        if cut and i == len(events) // 2:
            raise ConnectionResetError("mock cut the stream")
        yield event


async def _paced(model: str, count: int, prompt: int, created: int, include_usage: bool, interval_s: float):
    """One content chunk every `interval_s` on a fixed schedule, stamped with its send time."""
    head = ('data: {"id":"chatcmpl-mock-%d","object":"chat.completion.chunk","created":%d,"model":%s,'
            '"choices":[{"index":0,"delta":{"content":"t' % (created, created, json.dumps(model))).encode()
    tail = b' "},"finish_reason":null}]}\n\n'
    loop = asyncio.get_running_loop()
    due = loop.time()
    for _ in range(count):
        due += interval_s
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        yield head + f"{time.time():.6f}".encode() + tail
    base = {"id": f"chatcmpl-mock-{created}", "object": "chat.completion.chunk", "created": created, "model": model}
    yield f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}]})}\n\n".encode()
    if include_usage:
        usage = {**base, "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": count,
                                                   "total_tokens": prompt + count}}
        yield f"data: {json.dumps(usage)}\n\n".encode()
    yield b"data: [DONE]\n\n"


def _chunks(model: str, count: int, prompt: int, created: int, include_usage: bool):
    base = {"id": f"chatcmpl-mock-{created}", "object": "chat.completion.chunk", "created": created, "model": model}
    for i in range(count):
        delta = {"role": "assistant", "content": f"w{i} "} if i == 0 else {"content": f"w{i} "}
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    yield f"data: {json.dumps(final)}\n\n".encode()
    if include_usage:
        usage = {**base, "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": count,
                                                   "total_tokens": prompt + count}}
        yield f"data: {json.dumps(usage)}\n\n".encode()
    yield b"data: [DONE]\n\n"


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--output-tokens", type=int, default=64)
    parser.add_argument("--slow-ms", type=float, default=3000.0)
    parser.add_argument("--pace-ms", type=float, default=0.0, help="paced streams: one chunk every this many ms")
    parser.add_argument("--stream-s", type=float, default=30.0, help="length of a paced stream")
    parser.add_argument("--backlog", type=int, default=2048)
    args = parser.parse_args()
    app = build_app(args.delay_ms, args.output_tokens, args.slow_ms, args.pace_ms, args.stream_s)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False,
                loop="uvloop", http="httptools", backlog=args.backlog)


if __name__ == "__main__":
    main()
