"""Token counts for what the provider does not count for us, and the bounds a request is reserved for.

Two figures per request input:
- the *estimate*: one token per 4 bytes of UTF-8 (OpenAI's rule of thumb for English;
  French lands within ~15%), used for routing, rate limits and for charging when the
  provider reports no usage;
- the *bound*: one token per byte. Byte-level BPE tokenizers (OpenAI, Mistral, Llama)
  never emit more tokens than the bytes they read, so this is an upper bound whatever
  the text (code, CJK, base64 pasted by a hostile user). The budget reservation uses it.

What is counted is everything a provider bills as input: the text parts of every
message, tool calls and tool results in the history, function/tool definitions, the
`response_format` schema and `tool_choice`, any other non-text part by the size of its
JSON (audio, files), and images at OpenAI's documented per-image rule (below).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

BYTES_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_PRIMING_TOKENS = 2

#: OpenAI's tile rule: an image is fitted in 2048x2048, its short side scaled to 768,
#: then costs 85 tokens plus 170 per 512-px tile; the most tiles (768x2048) is 2x4 = 8,
#: hence 85 + 8 * 170 = 1445. `detail: low` costs the 85 base tokens only.
IMAGE_BASE_TOKENS = 85
IMAGE_TILE_TOKENS = 170
IMAGE_MAX_TILES = 8
IMAGE_HIGH_DETAIL_MAX_TOKENS = IMAGE_BASE_TOKENS + IMAGE_MAX_TILES * IMAGE_TILE_TOKENS
IMAGE_LOW_DETAIL_TOKENS = IMAGE_BASE_TOKENS

#: Request fields billed as input besides the messages.
BILLED_REQUEST_FIELDS = ("tools", "functions", "response_format", "tool_choice", "function_call")

#: OpenAI accepts 1..128 choices per request.
MAX_CHOICES = 128


def text_tokens(text: str) -> int:
    if not text:
        return 0
    return max(1, (len(text.encode("utf-8", "surrogatepass")) + BYTES_PER_TOKEN - 1) // BYTES_PER_TOKEN)


def message_text(message: dict[str, Any]) -> str:
    """The text of one chat message, whether `content` is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Estimated prompt tokens of a chat request (all billable parts), including framing."""
    return input_bound(messages, {}).estimate


def image_tokens(part: dict[str, Any]) -> int:
    """Worst-case tokens of one image part at the documented rule (dimensions are not read)."""
    image = part.get("image_url")
    detail = image.get("detail") if isinstance(image, dict) else None
    return IMAGE_LOW_DETAIL_TOKENS if detail == "low" else IMAGE_HIGH_DETAIL_MAX_TOKENS


@dataclass(frozen=True, slots=True)
class InputBound:
    """Input tokens of one request: the likely figure and the upper bound, and its images."""

    estimate: int
    worst: int
    images: int = 0
    image_tokens: int = 0  # of `worst`, the images' share at the tile rule


def _json_bytes(value: Any) -> int:
    try:
        return len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        return len(str(value).encode("utf-8", "surrogatepass"))


def _message_bytes(message: dict[str, Any]) -> tuple[int, int, int]:
    """(text bytes, image tokens, images) of one message, every billed field included."""
    size, images_tokens, images = 0, 0, 0
    for key, value in message.items():
        if key == "content":
            if isinstance(value, str):
                size += len(value.encode("utf-8", "surrogatepass"))
            elif isinstance(value, list):
                for part in value:
                    if isinstance(part, dict) and part.get("type") == "text":
                        size += len(str(part.get("text", "")).encode("utf-8", "surrogatepass"))
                    elif isinstance(part, dict) and part.get("type") == "image_url":
                        images_tokens += image_tokens(part)
                        images += 1
                    else:
                        size += _json_bytes(part)
            elif value is not None:
                size += _json_bytes(value)
        elif isinstance(value, str):
            size += len(value.encode("utf-8", "surrogatepass"))
        elif value is not None:
            size += _json_bytes(value)  # tool_calls, function_call, audio, ...
    return size, images_tokens, images


def input_bound(messages: list[dict[str, Any]], params: dict[str, Any]) -> InputBound:
    """Likely and worst-case input tokens of a chat request (messages plus billed fields)."""
    size, images_tokens, images = 0, 0, 0
    for message in messages:
        m_size, m_images_tokens, m_images = _message_bytes(message)
        size, images_tokens, images = size + m_size, images_tokens + m_images_tokens, images + m_images
    for name in BILLED_REQUEST_FIELDS:
        if params.get(name) is not None:
            size += _json_bytes(params[name])
    framing = len(messages) * MESSAGE_OVERHEAD_TOKENS + REPLY_PRIMING_TOKENS
    estimate = (size + BYTES_PER_TOKEN - 1) // BYTES_PER_TOKEN + framing + images_tokens
    return InputBound(estimate=estimate, worst=size + framing + images_tokens, images=images,
                      image_tokens=images_tokens)


def prediction_bound(params: dict[str, Any]) -> int:
    """Upper bound of the output tokens a `prediction` (Predicted Outputs) may add: the
    provider bills the predicted tokens it rejects as output, so one token per byte of it."""
    prediction = params.get("prediction")
    if not isinstance(prediction, dict):
        return 0
    content = prediction.get("content")
    if isinstance(content, str):
        return len(content.encode("utf-8", "surrogatepass"))
    return _json_bytes(content) if content is not None else 0


PRICED_SERVICE_TIERS = frozenset({"auto", "default", "flex", "standard_only"})
"""Service tiers billed at or below the catalogue's token prices (OpenAI's default and
flex, Anthropic's standard); `priority` and `scale` are billed above them."""


def unpriced_option(params: dict[str, Any]) -> str | None:
    """The forwarded option the provider bills beyond the catalogue's token prices (a
    priority service tier, web search, audio output), which no reservation could cover;
    None when the request asks for none of them."""
    tier = params.get("service_tier")
    if tier is not None and tier not in PRICED_SERVICE_TIERS:
        return "service_tier"
    if params.get("web_search_options") is not None:
        return "web_search_options"
    modalities = params.get("modalities")
    if params.get("audio") is not None or (isinstance(modalities, list) and "audio" in modalities):
        return "audio"
    return None


def choices_asked(params: dict[str, Any]) -> int:
    """How many choices (`n`) the request asks for; ValueError when it is not 1..128."""
    n = params.get("n", 1)
    if n is None:
        return 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CHOICES:
        raise ValueError(f"n must be an integer from 1 to {MAX_CHOICES}")
    return n


def tool_call_text(tool_calls: Any) -> str:
    """Names and arguments of tool calls (a message's or a stream delta's), as billed output."""
    if not isinstance(tool_calls, list):
        return ""
    pieces = []
    for call in tool_calls:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            pieces.append(str(function.get("name") or ""))
            pieces.append(str(function.get("arguments") or ""))
    return "".join(pieces)


def choice_output_text(message: dict[str, Any]) -> str:
    """Everything a choice generated that is billed as output: text, refusal, tool calls."""
    pieces = [
        message.get("content") if isinstance(message.get("content"), str) else message_text(message),
        message.get("refusal") if isinstance(message.get("refusal"), str) else "",
        tool_call_text(message.get("tool_calls")),
    ]
    function_call = message.get("function_call")
    if isinstance(function_call, dict):
        pieces.append(str(function_call.get("name") or "") + str(function_call.get("arguments") or ""))
    return "".join(p for p in pieces if p)


def completion_output_tokens(body: dict[str, Any]) -> int:
    """Counted output tokens of a plain completion: every choice, text and tool calls."""
    choices = body.get("choices")
    if not isinstance(choices, list):
        return 0
    return sum(
        text_tokens(choice_output_text(c.get("message") or {})) for c in choices if isinstance(c, dict)
    )
