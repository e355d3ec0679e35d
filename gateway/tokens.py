"""Cheap token counts for what the provider does not count for us.

Used for the demo responder, for the worst-case reservation before a call, and for
streams cut before the provider's usage chunk. One token is taken as 4 bytes of
UTF-8 text (OpenAI's rule of thumb for English; French text lands within ~15%); the
provider's own usage figures replace these whenever they are returned.
"""

from __future__ import annotations

from typing import Any

BYTES_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4


def text_tokens(text: str) -> int:
    if not text:
        return 0
    return max(1, (len(text.encode("utf-8")) + BYTES_PER_TOKEN - 1) // BYTES_PER_TOKEN)


def message_text(message: dict[str, Any]) -> str:
    """The text of one chat message, whether `content` is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Estimated prompt tokens of a chat request, including per-message framing."""
    return sum(text_tokens(message_text(m)) + MESSAGE_OVERHEAD_TOKENS for m in messages) + 2
