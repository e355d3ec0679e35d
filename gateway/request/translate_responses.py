"""OpenAI's Responses API as chat completions, and back.

`POST /v1/responses` is translated into the chat-completion shape the pipeline serves
(routing, budgets, impacts and the ledger are the same), and the pipeline's answer
or stream is translated into a `response` object or the Responses stream events.
Only stateless use is served: `previous_response_id` and stored conversations need
server-side state Sobria does not keep, and are refused with a clear 400.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.edge.errors import GatewayError
from gateway.request.sse import chat_events, sse

#: Responses fields forwarded to the chat completion under the same name.
_SAME_NAME = ("temperature", "top_p", "user", "parallel_tool_calls", "safety_identifier", "prompt_cache_key",
              "service_tier", "top_logprobs")


class ResponsesRequest(BaseModel):
    """The body of `POST /v1/responses` (unknown fields are ignored)."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=128)
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    stream: bool = False
    max_output_tokens: int | None = Field(default=None, gt=0)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    previous_response_id: str | None = None


def _content_text(content: Any) -> str | list[dict[str, Any]]:
    """Responses content parts as chat content (text joined, images kept as image parts)."""
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content or ():
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": str(part.get("text") or "")})
        elif kind == "input_image":
            url = part.get("image_url") or ""
            parts.append({"type": "image_url", "image_url": {"url": url, "detail": part.get("detail") or "auto"}})
        elif kind == "refusal":
            parts.append({"type": "text", "text": str(part.get("refusal") or "")})
        else:
            raise GatewayError(400, "invalid_request", param="input", detail=f"content type {kind!r} is not supported")
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def chat_messages(body: ResponsesRequest) -> list[dict[str, Any]]:
    """The Responses `instructions` and `input` as chat messages."""
    messages: list[dict[str, Any]] = []
    if body.instructions:
        messages.append({"role": "system", "content": body.instructions})
    if isinstance(body.input, str):
        messages.append({"role": "user", "content": body.input})
        return messages
    for item in body.input:
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role") or "user"
            if role not in ("user", "assistant", "system", "developer"):
                raise GatewayError(400, "invalid_request", param="input", detail=f"role {role!r} is not supported")
            messages.append({"role": role, "content": _content_text(item.get("content"))})
        elif kind == "function_call":
            call = {"id": str(item.get("call_id") or item.get("id") or ""), "type": "function",
                    "function": {"name": str(item.get("name") or ""), "arguments": str(item.get("arguments") or "")}}
            previous = messages[-1] if messages else None
            if previous and previous.get("role") == "assistant" and previous.get("tool_calls"):
                previous["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else str(_content_text(output))
            messages.append({"role": "tool", "tool_call_id": str(item.get("call_id") or ""), "content": text})
        elif kind == "reasoning":
            continue
        else:
            raise GatewayError(400, "invalid_request", param="input", detail=f"input item {kind!r} is not supported")
    if not messages:
        raise GatewayError(400, "invalid_request", param="input", detail="input is empty")
    return messages


def _chat_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    converted = []
    for tool in tools:
        if tool.get("type") != "function":
            raise GatewayError(400, "invalid_request", param="tools",
                               detail=f"tool type {tool.get('type')!r} is not supported (function tools only)")
        function = {"name": tool.get("name"), "parameters": tool.get("parameters") or {"type": "object"}}
        if tool.get("description"):
            function["description"] = tool["description"]
        if tool.get("strict") is not None:
            function["strict"] = tool["strict"]
        converted.append({"type": "function", "function": function})
    return converted


def _chat_tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def _response_format(text: dict[str, Any] | None) -> dict[str, Any] | None:
    form = (text or {}).get("format") or {}
    kind = form.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = {"name": form.get("name") or "schema", "schema": form.get("schema") or {}}
        if form.get("strict") is not None:
            schema["strict"] = form["strict"]
        return {"type": "json_schema", "json_schema": schema}
    return None


def chat_params(body: ResponsesRequest) -> dict[str, Any]:
    """The chat-completion parameters a Responses body stands for."""
    if body.previous_response_id:
        raise GatewayError(400, "invalid_request", param="previous_response_id",
                           detail="stored responses are not kept; send the whole conversation in input")
    extra = body.model_extra or {}
    params: dict[str, Any] = {name: extra[name] for name in _SAME_NAME if extra.get(name) is not None}
    if body.tools:
        params["tools"] = _chat_tools(body.tools)
    if body.tool_choice is not None:
        params["tool_choice"] = _chat_tool_choice(body.tool_choice)
    response_format = _response_format(body.text)
    if response_format:
        params["response_format"] = response_format
    if body.reasoning and body.reasoning.get("effort"):
        params["reasoning_effort"] = body.reasoning["effort"]
    return params


def _usage(chat_usage: dict[str, Any]) -> dict[str, Any]:
    usage = {
        "input_tokens": int(chat_usage.get("prompt_tokens") or 0),
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": int(chat_usage.get("completion_tokens") or 0),
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": int(chat_usage.get("total_tokens") or 0),
    }
    if "sobria" in chat_usage:
        usage["sobria"] = chat_usage["sobria"]
    return usage


def _envelope(body: ResponsesRequest, response_id: str, model: str, status: str) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": [],
        "instructions": body.instructions,
        "metadata": body.metadata or {},
        "parallel_tool_calls": bool((body.model_extra or {}).get("parallel_tool_calls", True)),
        "tool_choice": body.tool_choice or "auto",
        "tools": body.tools or [],
        "temperature": (body.model_extra or {}).get("temperature"),
        "top_p": (body.model_extra or {}).get("top_p"),
        "max_output_tokens": body.max_output_tokens,
        "text": body.text or {"format": {"type": "text"}},
        "error": None,
        "incomplete_details": None,
        "usage": None,
    }


def _message_item(text: str, item_id: str | None = None, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id or f"msg_{uuid.uuid4().hex}",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else [],
    }


def _call_item(call_id: str, name: str, arguments: str, item_id: str | None = None,
               status: str = "completed") -> dict[str, Any]:
    return {"type": "function_call", "id": item_id or f"fc_{uuid.uuid4().hex}", "call_id": call_id,
            "name": name, "arguments": arguments, "status": status}


def response_object(body: ResponsesRequest, chat: dict[str, Any]) -> dict[str, Any]:
    """A chat completion (first choice) as a `response` object."""
    choice = (chat.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    response = _envelope(body, f"resp_{uuid.uuid4().hex}", str(chat.get("model") or body.model), "completed")
    if message.get("content"):
        response["output"].append(_message_item(str(message["content"])))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        response["output"].append(_call_item(str(call.get("id")), str(function.get("name")),
                                             str(function.get("arguments") or "")))
    if choice.get("finish_reason") == "length":
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "max_output_tokens"}
    response["usage"] = _usage(chat.get("usage") or {})
    return response


class _StreamWriter:
    """Turns chat chunks into Responses events, numbering them as the API does."""

    def __init__(self, body: ResponsesRequest):
        self.body = body
        self.sequence = 0
        self.response = _envelope(body, f"resp_{uuid.uuid4().hex}", body.model, "in_progress")
        self.text_item: dict[str, Any] | None = None
        self.text = ""
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None

    def event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return sse(kind, data)

    def start(self) -> list[bytes]:
        return [self.event("response.created", response=dict(self.response)),
                self.event("response.in_progress", response=dict(self.response))]

    def _open_text(self) -> list[bytes]:
        self.text_item = _message_item("", status="in_progress")
        index = len(self.response["output"])
        self.response["output"].append(self.text_item)
        part = {"type": "output_text", "text": "", "annotations": []}
        return [self.event("response.output_item.added", output_index=index, item=dict(self.text_item)),
                self.event("response.content_part.added", item_id=self.text_item["id"], output_index=index,
                           content_index=0, part=part)]

    def chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        if chunk.get("model"):
            self.response["model"] = chunk["model"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                if self.text_item is None:
                    out += self._open_text()
                assert self.text_item is not None
                self.text += delta["content"]
                out.append(self.event("response.output_text.delta", item_id=self.text_item["id"],
                                      output_index=self.response["output"].index(self.text_item),
                                      content_index=0, delta=delta["content"], logprobs=[]))
            for call in delta.get("tool_calls") or ():
                out += self._call_delta(call)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return out

    def _call_delta(self, call: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        position = int(call.get("index") or 0)
        function = call.get("function") or {}
        item = self.calls.get(position)
        if item is None:
            item = _call_item(str(call.get("id") or f"call_{uuid.uuid4().hex[:24]}"), str(function.get("name") or ""),
                              "", status="in_progress")
            self.calls[position] = item
            self.response["output"].append(item)
            out.append(self.event("response.output_item.added", output_index=self.response["output"].index(item),
                                  item=dict(item)))
        if function.get("arguments"):
            item["arguments"] += function["arguments"]
            out.append(self.event("response.function_call_arguments.delta", item_id=item["id"],
                                  output_index=self.response["output"].index(item), delta=function["arguments"]))
        return out

    def finish_events(self, chat_usage: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        if self.text_item is not None:
            index = self.response["output"].index(self.text_item)
            part = {"type": "output_text", "text": self.text, "annotations": []}
            self.text_item.update(status="completed", content=[part])
            out += [self.event("response.output_text.done", item_id=self.text_item["id"], output_index=index,
                               content_index=0, text=self.text, logprobs=[]),
                    self.event("response.content_part.done", item_id=self.text_item["id"], output_index=index,
                               content_index=0, part=part),
                    self.event("response.output_item.done", output_index=index, item=dict(self.text_item))]
        for item in self.calls.values():
            index = self.response["output"].index(item)
            item["status"] = "completed"
            out += [self.event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                               arguments=item["arguments"]),
                    self.event("response.output_item.done", output_index=index, item=dict(item))]
        self.response["usage"] = _usage(chat_usage)
        if self.finish == "length":
            self.response.update(status="incomplete", incomplete_details={"reason": "max_output_tokens"})
            out.append(self.event("response.incomplete", response=self.response))
        else:
            self.response["status"] = "completed"
            out.append(self.event("response.completed", response=self.response))
        return out


async def response_events(body: ResponsesRequest, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The pipeline's chat stream (with its usage chunk) as Responses stream events."""
    writer = _StreamWriter(body)
    for event in writer.start():
        yield event
    usage: dict[str, Any] = {}
    async for item in chat_events(chunks):
        if item.error is not None:
            writer.response.update(status="failed", error={"code": item.error.get("code"),
                                                           "message": item.error.get("message")})
            yield writer.event("response.failed", response=writer.response)
            return
        assert item.chunk is not None
        if item.chunk.get("usage"):
            usage = item.chunk["usage"]
        for event in writer.chunk(item.chunk):
            yield event
    for event in writer.finish_events(usage):
        yield event
