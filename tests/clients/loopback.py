"""A loopback provider speaking OpenAI's chat completions and embeddings and Anthropic's Messages API.

Run as a process (`python loopback.py --port N`). It answers like a tool-calling model:
given tools and no tool result yet, it calls the first tool with arguments built from
its schema; otherwise it writes a short text. It keeps the bodies it received, which
`GET /_requests` returns, so tests check what the gateway really forwarded.
"""

from __future__ import annotations

import argparse
import json
import time

from aiohttp import web

RECEIVED: list[dict] = []
ANSWER = "Bonjour, voici la réponse."


def _arguments(schema: dict) -> dict:
    properties = (schema or {}).get("properties") or {}
    return {name: ("Paris" if spec.get("type") == "string" else 1) for name, spec in properties.items()}


def _openai_tool(body: dict) -> dict | None:
    tools = body.get("tools") or []
    if not tools or body.get("tool_choice") == "none" or (body["messages"][-1].get("role") == "tool"):
        return None
    function = tools[0]["function"]
    return {"id": "call_loop_1", "type": "function",
            "function": {"name": function["name"], "arguments": json.dumps(_arguments(function.get("parameters")))}}


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    RECEIVED.append({"path": request.path, "body": body})
    call = _openai_tool(body)
    created = int(time.time())
    base = {"id": "chatcmpl-loop", "created": created, "model": body["model"]}
    if not body.get("stream"):
        message = {"role": "assistant", "content": None, "tool_calls": [call]} if call else \
            {"role": "assistant", "content": ANSWER}
        choices = [{"index": i, "message": message, "finish_reason": "tool_calls" if call else "stop"}
                   for i in range(int(body.get("n") or 1))]
        return web.json_response({**base, "object": "chat.completion", "choices": choices,
                                  "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}})
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)

    async def send(delta: dict, finish: str | None = None) -> None:
        chunk = {**base, "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")

    await send({"role": "assistant", "content": ""})
    if call:
        arguments = call["function"]["arguments"]
        await send({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                    "function": {"name": call["function"]["name"], "arguments": arguments[:5]}}]})
        await send({"tool_calls": [{"index": 0, "function": {"arguments": arguments[5:]}}]})
        await send({}, "tool_calls")
    else:
        for word in ANSWER.split(" "):
            await send({"content": word + " "})
        await send({}, "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {**base, "object": "chat.completion.chunk", "choices": [],
                 "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    return response


async def embeddings(request: web.Request) -> web.Response:
    body = await request.json()
    RECEIVED.append({"path": request.path, "body": body})
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i, _ in enumerate(inputs)]
    return web.json_response({"object": "list", "data": data, "model": body["model"],
                              "usage": {"prompt_tokens": 5 * len(inputs), "total_tokens": 5 * len(inputs)}})


async def anthropic_messages(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    RECEIVED.append({"path": request.path, "body": body})
    tools = body.get("tools") or []
    last = body["messages"][-1]
    answered = isinstance(last.get("content"), list) and any(b.get("type") == "tool_result" for b in last["content"])
    use = tools[0] if tools and not answered else None
    block = {"type": "tool_use", "id": "toolu_loop_1", "name": use["name"], "input": _arguments(use["input_schema"])} \
        if use else {"type": "text", "text": ANSWER}
    stop = "tool_use" if use else "end_turn"
    message = {"id": "msg_loop", "type": "message", "role": "assistant", "model": body["model"],
               "stop_reason": stop, "stop_sequence": None, "usage": {"input_tokens": 13, "output_tokens": 9}}
    if not body.get("stream"):
        return web.json_response({**message, "content": [block]})
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)

    async def send(kind: str, data: dict) -> None:
        await response.write(f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode())

    await send("message_start", {"message": {**message, "content": [], "stop_reason": None,
                                             "usage": {"input_tokens": 13, "output_tokens": 1}}})
    if use:
        await send("content_block_start", {"index": 0, "content_block": {**block, "input": {}}})
        await send("content_block_delta", {"index": 0, "delta": {"type": "input_json_delta",
                                                                 "partial_json": json.dumps(block["input"])}})
    else:
        await send("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        await send("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": ANSWER}})
    await send("content_block_stop", {"index": 0})
    await send("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 9}})
    await send("message_stop", {})
    return response


async def received(request: web.Request) -> web.Response:
    return web.json_response(RECEIVED)


async def stats(request: web.Request) -> web.Response:
    return web.json_response({"requests": len(RECEIVED)})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/anthropic/v1/messages", anthropic_messages)
    app.router.add_get("/_requests", received)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=parser.parse_args().port, print=None)


if __name__ == "__main__":
    main()
