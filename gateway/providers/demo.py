"""Demo answers: what a model would send, produced locally and marked as a placeholder.

A demo model has no provider behind it. It still answers every request shape a
client may send, so tools and integrations can be built offline: tool definitions get
a call to the chosen tool with arguments that validate against its JSON Schema; JSON
mode gets a JSON object; `json_schema` gets an instance of the schema; `n` gets that
many choices. Text answers are the pipeline's placeholder sentence.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.edge.errors import GatewayError
from gateway.providers.relay import StreamPiece

#: Upper bound on choices a demo model writes (OpenAI accepts up to 128).
MAX_CHOICES = 16
_MAX_DEPTH = 8


def placeholder(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A value valid against a JSON Schema (the common subset tools and structured outputs use)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None if depth > _MAX_DEPTH else "demo"
    root = root if root is not None else schema
    if "$ref" in schema:
        target: Any = root
        for part in str(schema["$ref"]).lstrip("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) and part else target
        return placeholder(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if options:
            chosen = next((o for o in options if isinstance(o, dict) and o.get("type") != "null"), options[0])
            return placeholder(chosen, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        return {name: placeholder(sub, root, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems") or 1))
        return [placeholder(schema.get("items") or {}, root, depth + 1) for _ in range(min(count, 4))]
    if kind == "integer":
        return int(schema.get("minimum") or 0)
    if kind == "number":
        return float(schema.get("minimum") or 0)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    minimum = int(schema.get("minLength") or 0)
    return "demo".ljust(minimum, "o")


def _chosen_tool(tools: Any, tool_choice: Any, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The function a demo model calls, or None when it should answer in text.

    It calls a tool when tools are offered, the caller did not say `none`, and the last
    message is not already a tool result (so a tool loop ends with a text answer)."""
    if not isinstance(tools, list) or not tools or tool_choice == "none":
        return None
    if messages and messages[-1].get("role") == "tool" and tool_choice != "required":
        return None
    functions: list[dict[str, Any]] = [
        t["function"] for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    if not functions:
        return None
    if isinstance(tool_choice, dict):
        wanted = (tool_choice.get("function") or {}).get("name")
        for function in functions:
            if function.get("name") == wanted:
                return function
    return functions[0]


def _structured(response_format: Any, text: str) -> str | None:
    """The JSON text a demo model answers with under JSON mode or `json_schema`."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return orjson.dumps({"demo": True, "answer": text}).decode()
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return orjson.dumps(placeholder(schema)).decode()
    return None


def _choice_count(params: dict[str, Any]) -> int:
    n = params.get("n", 1)
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool) or n < 1 or n > MAX_CHOICES:
        raise GatewayError(400, "invalid_request", param="n", detail=f"n must be an integer from 1 to {MAX_CHOICES}")
    return n


def demo_message(messages: list[dict[str, Any]], params: dict[str, Any], text: str) -> tuple[dict[str, Any], str]:
    """The assistant message of one demo choice and its finish reason."""
    function = _chosen_tool(params.get("tools"), params.get("tool_choice"), messages)
    if function is not None:
        arguments = orjson.dumps(placeholder(function.get("parameters") or {"type": "object"})).decode()
        call = {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": str(function.get("name") or "tool"), "arguments": arguments},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    structured = _structured(params.get("response_format"), text)
    return {"role": "assistant", "content": structured if structured is not None else text}, "stop"


def demo_completion(model: str, messages: list[dict[str, Any]], params: dict[str, Any], text: str) -> dict[str, Any]:
    """A whole `chat.completion` from a demo model (usage is counted by the pipeline)."""
    choices = []
    for index in range(_choice_count(params)):
        message, finish = demo_message(messages, params, text)
        choices.append({"index": index, "message": message, "finish_reason": finish})
    return {
        "id": f"chatcmpl-demo-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
    }


def _chunk(base: dict[str, Any], index: int, delta: dict[str, Any], finish: str | None = None) -> StreamPiece:
    data = {**base, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}
    text = delta.get("content") or ""
    for call in delta.get("tool_calls") or ():
        function = call.get("function") or {}
        text += (function.get("name") or "") + (function.get("arguments") or "")
    return StreamPiece(b"data: " + orjson.dumps(data) + b"\n\n", text, None, base["id"], base["created"])


def demo_stream(
    model: str, messages: list[dict[str, Any]], params: dict[str, Any], text: str
) -> AsyncIterator[StreamPiece]:
    """The same answer as `demo_completion`, as `chat.completion.chunk` events."""
    base = {"id": f"chatcmpl-demo-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}
    count = _choice_count(params)

    async def pieces() -> AsyncIterator[StreamPiece]:
        for index in range(count):
            message, finish = demo_message(messages, params, text)
            yield _chunk(base, index, {"role": "assistant", "content": ""})
            for call_index, call in enumerate(message.get("tool_calls") or ()):
                arguments = call["function"]["arguments"]
                half = len(arguments) // 2
                head = {"index": call_index, "id": call["id"], "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": arguments[:half]}}
                yield _chunk(base, index, {"tool_calls": [head]})
                yield _chunk(base, index, {"tool_calls": [{"index": call_index, "function": {"arguments": arguments[half:]}}]})
            content = message.get("content") or ""
            words = content.split(" ")
            for position in range(0, len(words), 4):
                part = " ".join(words[position:position + 4])
                yield _chunk(base, index, {"content": part if position == 0 else " " + part})
            yield _chunk(base, index, {}, finish)

    return pieces()
