"""An OpenAI-compatible upstream that behaves as a hostile or broken provider would.

The model name picks the behaviour (one server plays every deployment of a test):
- `honest*`: `n` choices of `min(max_tokens, --tokens)` words each, exact usage;
  streamed when asked, with a usage chunk when `stream_options.include_usage` is set.
- `nousage*`: the same, never any `usage` (plain or streamed).
- `toolsonly*`: one tool call per choice (`--tokens` words of JSON arguments), no text and
  no usage; streamed as tool-call deltas only.
- `negative*`: usage with `completion_tokens: -50`.
- `absurd*`: usage with `completion_tokens: 10**12`.
- `broken*`: answers 500 (a primary that makes the gateway fall back).
- `slow*`: streams one word every `--slow-interval-ms` (a stream longer than a reservation TTL).
- `late*`: sends the response headers, then waits `--late-ms` before the first chunk.
Usage reports every token generated: the words (one token each) of every choice, and
a prompt of one token per 4 bytes of the request body. `GET /stats` counts calls and
cancelled streams per model.

Run: python tests/budgets/hostile_upstream.py --port 9300
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


def build_app(tokens: int, slow_interval_s: float, late_s: float) -> Starlette:
    stats: Counter[str] = Counter()

    def words(count: int) -> str:
        return " ".join(f"w{i}" for i in range(count))

    def usage(model: str, prompt: int, completion: int) -> dict[str, int] | None:
        if model.startswith(("nousage", "toolsonly")):
            return None
        if model.startswith("negative"):
            completion = -50
        if model.startswith("absurd"):
            completion = 10**12
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def message(model: str, count: int, index: int) -> dict:
        if model.startswith("toolsonly"):
            arguments = json.dumps({"words": words(count)})
            call = {"id": f"call_{index}", "type": "function", "function": {"name": "lookup", "arguments": arguments}}
            return {"role": "assistant", "content": None, "tool_calls": [call]}
        return {"role": "assistant", "content": words(count)}

    async def chunks(model: str, n: int, count: int, prompt: int, include_usage: bool):
        base = {"id": "chatcmpl-hostile", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        try:
            if model.startswith("late"):
                await asyncio.sleep(late_s)
            for i in range(count):
                for index in range(n):
                    if model.startswith("toolsonly"):
                        piece: dict = {"index": 0, "function": {"arguments": f"w{i} "}}
                        if i == 0:
                            piece.update(id=f"call_{index}", type="function")
                            piece["function"]["name"] = "lookup"
                        delta: dict = {"tool_calls": [piece]}
                    else:
                        delta = {"content": f"w{i} "}
                    choice = {"index": index, "delta": delta, "finish_reason": None}
                    yield f"data: {json.dumps({**base, 'choices': [choice]})}\n\n".encode()
                if model.startswith("slow"):
                    await asyncio.sleep(slow_interval_s)
            done = [{"index": index, "delta": {}, "finish_reason": "stop"} for index in range(n)]
            yield f"data: {json.dumps({**base, 'choices': done})}\n\n".encode()
            reported = usage(model, prompt, count * n)
            if include_usage and reported is not None:
                yield f"data: {json.dumps({**base, 'choices': [], 'usage': reported})}\n\n".encode()
            yield b"data: [DONE]\n\n"
            stats[f"{model}:finished"] += 1
        except (asyncio.CancelledError, GeneratorExit):
            stats[f"{model}:cancelled"] += 1
            raise

    async def completions(request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw)
        model = str(body.get("model", "honest"))
        stats[model] += 1
        if model.startswith("broken"):
            return JSONResponse({"error": {"message": "hostile failure", "type": "server_error"}}, status_code=500)
        n = int(body.get("n") or 1)
        count = min(int(body.get("max_tokens") or tokens), tokens)
        prompt = max(1, len(raw) // 4)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(chunks(model, n, count, prompt, include_usage), media_type="text/event-stream")
        answer = {
            "id": "chatcmpl-hostile",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": i, "message": message(model, count, i), "finish_reason": "stop"} for i in range(n)
            ],
        }
        reported = usage(model, prompt, count * n)
        if reported is not None:
            answer["usage"] = reported
        return JSONResponse(answer)

    async def read_stats(_: Request) -> Response:
        return JSONResponse(dict(stats))

    return Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/stats", read_stats),
        ]
    )


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--slow-interval-ms", type=float, default=100)
    parser.add_argument("--late-ms", type=float, default=2000)
    args = parser.parse_args()
    app = build_app(args.tokens, args.slow_interval_ms / 1000, args.late_ms / 1000)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", timeout_keep_alive=120)


if __name__ == "__main__":
    main()
