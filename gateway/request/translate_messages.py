"""Anthropic's Messages API as chat completions, and back.

`POST /v1/messages` (what Claude Code and the `anthropic` SDK speak) is translated into
the chat-completion shape the pipeline serves, so routing, budgets, impacts and the
ledger are the same as for `/v1/chat/completions`; the answer or stream comes back as
a `message` object or the Messages stream events (`message_start` … `message_stop`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from gateway.edge.errors import GatewayError
from gateway.request.sse import chat_events, sse

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                 "content_filter": "refusal"}


class MessagesRequest(BaseModel):
    """The body of `POST /v1/messages` (unknown fields are ignored)."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=128)
    max_tokens: int = Field(gt=0)
    messages: list[dict[str, Any]] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    stream: bool = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    metadata: dict[str, Any] | None = None


def _text_of(blocks: Any) -> str:
    if isinstance(blocks, str):
        return blocks
    return "".join(str(b.get("text") or "") for b in blocks or () if b.get("type") == "text")


def _image_part(block: dict[str, Any]) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    else:
        url = str(source.get("url") or "")
    return {"type": "image_url", "image_url": {"url": url}}


def _user_messages(content: Any) -> list[dict[str, Any]]:
    """One Anthropic user turn: its tool results become `tool` messages, the rest one user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content or ():
        kind = block.get("type")
        if kind == "tool_result":
            result = block.get("content")
            text = _text_of(result) if not isinstance(result, str) else result
            if block.get("is_error"):
                text = f"Error: {text}"
            out.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id") or ""), "content": text})
        elif kind == "text":
            parts.append({"type": "text", "text": str(block.get("text") or "")})
        elif kind == "image":
            parts.append(_image_part(block))
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise GatewayError(400, "invalid_request", param="messages", detail=f"content block {kind!r} is not supported")
    if parts:
        only_text = all(p["type"] == "text" for p in parts)
        out.append({"role": "user", "content": "".join(p["text"] for p in parts) if only_text else parts})
    return out


def _assistant_message(content: Any) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    text = ""
    calls = []
    for block in content or ():
        kind = block.get("type")
        if kind == "text":
            text += str(block.get("text") or "")
        elif kind == "tool_use":
            calls.append({"id": str(block.get("id") or ""), "type": "function",
                          "function": {"name": str(block.get("name") or ""),
                                       "arguments": orjson.dumps(block.get("input") or {}).decode()}})
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message


def chat_messages(body: MessagesRequest) -> list[dict[str, Any]]:
    """The Messages `system` and `messages` as chat messages."""
    messages: list[dict[str, Any]] = []
    system = _text_of(body.system) if body.system is not None else ""
    if system:
        messages.append({"role": "system", "content": system})
    for turn in body.messages:
        role = turn.get("role")
        if role == "user":
            messages += _user_messages(turn.get("content"))
        elif role == "assistant":
            messages.append(_assistant_message(turn.get("content")))
        else:
            raise GatewayError(400, "invalid_request", param="messages", detail=f"role {role!r} is not supported")
    return messages


def chat_params(body: MessagesRequest) -> dict[str, Any]:
    """The chat-completion parameters a Messages body stands for."""
    params: dict[str, Any] = {}
    if body.temperature is not None:
        params["temperature"] = body.temperature
    if body.top_p is not None:
        params["top_p"] = body.top_p
    if body.stop_sequences:
        params["stop"] = body.stop_sequences
    if body.tools:
        tools = []
        for tool in body.tools:
            if "input_schema" not in tool:
                raise GatewayError(400, "invalid_request", param="tools",
                                   detail=f"server tool {tool.get('type') or tool.get('name')!r} is not supported")
            function = {"name": tool.get("name"), "parameters": tool.get("input_schema") or {"type": "object"}}
            if tool.get("description"):
                function["description"] = tool["description"]
            tools.append({"type": "function", "function": function})
        params["tools"] = tools
    choice = body.tool_choice or {}
    kind = choice.get("type")
    if kind == "any":
        params["tool_choice"] = "required"
    elif kind == "tool":
        params["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif kind in ("auto", "none"):
        params["tool_choice"] = kind
    if choice.get("disable_parallel_tool_use") and body.tools:
        params["parallel_tool_calls"] = False
    user = (body.metadata or {}).get("user_id")
    if user:
        params["user"] = str(user)
    return params


def _arguments(text: str) -> Any:
    try:
        return orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        return {"_raw": text}


def _usage(chat_usage: dict[str, Any]) -> dict[str, Any]:
    usage: dict[str, Any] = {"input_tokens": int(chat_usage.get("prompt_tokens") or 0),
                             "output_tokens": int(chat_usage.get("completion_tokens") or 0)}
    if "sobria" in chat_usage:
        usage["sobria"] = chat_usage["sobria"]
    return usage


def message_object(chat: dict[str, Any]) -> dict[str, Any]:
    """A chat completion (first choice) as an Anthropic `message`."""
    choice = (chat.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": str(message["content"])})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": str(call.get("id")), "name": str(function.get("name")),
                        "input": _arguments(str(function.get("arguments") or ""))})
    return {
        "id": f"msg_{uuid.uuid4().hex}",
        "type": "message",
        "role": "assistant",
        "model": chat.get("model"),
        "content": content,
        "stop_reason": _STOP_REASONS.get(str(choice.get("finish_reason")), "end_turn"),
        "stop_sequence": None,
        "usage": _usage(chat.get("usage") or {}),
    }


async def message_events(model: str, input_tokens: int, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The pipeline's chat stream (with its usage chunk) as Messages stream events."""
    message: dict[str, Any] = {"id": f"msg_{uuid.uuid4().hex}", "type": "message", "role": "assistant", "model": model,
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": input_tokens, "output_tokens": 0}}
    yield sse("message_start", {"type": "message_start", "message": message})
    block = -1
    open_kind: str | None = None
    calls: dict[int, int] = {}
    finish = "stop"
    usage: dict[str, Any] = {}

    def close() -> bytes | None:
        return sse("content_block_stop", {"type": "content_block_stop", "index": block}) if open_kind else None

    async for item in chat_events(chunks):
        if item.error is not None:
            yield sse("error", {"type": "error", "error": {"type": "api_error", "message": item.error.get("message")}})
            return
        assert item.chunk is not None
        if item.chunk.get("usage"):
            usage = item.chunk["usage"]
        for choice in item.chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                if open_kind != "text":
                    stop = close()
                    if stop:
                        yield stop
                    block, open_kind = block + 1, "text"
                    yield sse("content_block_start", {"type": "content_block_start", "index": block,
                                                      "content_block": {"type": "text", "text": ""}})
                yield sse("content_block_delta", {"type": "content_block_delta", "index": block,
                                                  "delta": {"type": "text_delta", "text": delta["content"]}})
            for call in delta.get("tool_calls") or ():
                position = int(call.get("index") or 0)
                function = call.get("function") or {}
                if position not in calls:
                    stop = close()
                    if stop:
                        yield stop
                    block, open_kind = block + 1, "tool_use"
                    calls[position] = block
                    start = {"type": "tool_use", "id": str(call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}"),
                             "name": str(function.get("name") or ""), "input": {}}
                    yield sse("content_block_start", {"type": "content_block_start", "index": block,
                                                      "content_block": start})
                if function.get("arguments"):
                    yield sse("content_block_delta", {"type": "content_block_delta", "index": calls[position],
                                                      "delta": {"type": "input_json_delta",
                                                                "partial_json": function["arguments"]}})
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
    stop = close()
    if stop:
        yield stop
    final = _usage(usage)
    yield sse("message_delta", {"type": "message_delta",
                                "delta": {"stop_reason": _STOP_REASONS.get(finish, "end_turn"), "stop_sequence": None},
                                "usage": final})
    yield sse("message_stop", {"type": "message_stop"})
