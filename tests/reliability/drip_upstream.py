"""An OpenAI-compatible upstream that streams slowly and notices when it is abandoned.

Each streamed answer sends one token every `--interval-ms` up to `--tokens`; `GET /stats`
reports streams started, finished, and cancelled (the gateway closed the connection
before the end), and the chunks sent, so a test can prove the gateway stopped the call.

Run: python tests/reliability/drip_upstream.py --port 9200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def build_app(interval_s: float, tokens: int) -> Starlette:
    stats: Counter[str] = Counter()

    async def drip(model: str):
        stats["started"] += 1
        base = {"id": "chatcmpl-drip", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        try:
            for i in range(tokens):
                chunk = {**base, "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}]}
                yield f"data: {json.dumps(chunk)}\n\n".encode()
                stats["chunks_sent"] += 1
                await asyncio.sleep(interval_s)
            done = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            yield f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode()
            stats["finished"] += 1
        except (asyncio.CancelledError, GeneratorExit):
            stats["cancelled"] += 1
            raise

    async def completions(request: Request) -> Response:
        body = json.loads(await request.body())
        return StreamingResponse(drip(str(body.get("model"))), media_type="text/event-stream")

    async def read_stats(_: Request) -> Response:
        return JSONResponse(dict(stats))

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/chat/completions", completions, methods=["POST"]),
            Route("/stats", read_stats),
        ]
    )


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--interval-ms", type=float, default=50)
    parser.add_argument("--tokens", type=int, default=200)
    args = parser.parse_args()
    uvicorn.run(build_app(args.interval_ms / 1000, args.tokens), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
