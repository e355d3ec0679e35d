"""Reading back the chat-completion SSE the pipeline writes, for the protocol translators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class ChatEvent:
    """One event of a chat-completion stream: a chunk, the gateway's error, or the end."""

    chunk: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


async def chat_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[ChatEvent]:
    """The pipeline's SSE bytes as parsed chunks (comments and `[DONE]` skipped)."""
    buffer = b""
    async for data in chunks:
        buffer += data
        while b"\n\n" in buffer:
            event, _, buffer = buffer.partition(b"\n\n")
            for line in event.split(b"\n"):
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if not payload or payload == b"[DONE]":
                    continue
                parsed = orjson.loads(payload)
                if "error" in parsed:
                    yield ChatEvent(error=parsed["error"])
                else:
                    yield ChatEvent(chunk=parsed)


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One named SSE event (the Responses and Messages streams name theirs)."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
