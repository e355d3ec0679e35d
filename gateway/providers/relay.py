"""A lean relay to OpenAI-compatible upstreams: pooled connections, bytes in, bytes out.

litellm's Router costs about 5 ms of CPU per plain call and 34 ms per 64-chunk stream,
most of it translating between protocols that are already the same. For deployments
that speak OpenAI's protocol (OpenAI, Mistral, vLLM, Ollama, llama.cpp, any `api_base`),
this module sends the request as JSON and relays the answer: a plain answer is parsed
once, a stream's SSE events are forwarded as the upstream wrote them, parsed only to
count generated text and to catch the usage chunk. One attempt per call; retries and
fallbacks live in `gateway.providers.upstream`, identical for this path and litellm's.
Plain calls use aiohttp rather than httpx: httpx's connection pool scans every pooled
connection (a `poll` per connection) on each request, which cost 40% of the gateway's
CPU at 64 requests in flight. Streams use `gateway.providers.stream_client`, which costs
less per chunk than aiohttp's stream reader.

At thousands of long streams per worker the cost per relayed chunk is what counts
(bench/streams_scale.py). So a plain content event, the shape nearly every chunk of a
stream has, is recognised from its bytes against the previous event of the same stream
that the JSON parser read (`_Template`) and relayed without being parsed; and a stream
silent for `timeout_s` is found by one sweep per second over the open streams
(`_IdleSweep`) rather than by a timer re-armed on every read.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from gateway.providers.catalogue import ModelSpec
from gateway.edge.errors import GatewayError
from gateway.providers.stream_client import StreamClient, StreamResponse
from gateway.request.tokens import tool_call_text

#: Providers whose own API is OpenAI's chat completions protocol, with their base URL.
OPENAI_COMPATIBLE: dict[str, str | None] = {
    "openai": "https://api.openai.com/v1",
    "mistral": "https://api.mistral.ai/v1",
    "hosted_vllm": None,
    "llamacpp": None,
    "lm_studio": None,
    "deepseek": "https://api.deepseek.com/v1",
    "groq": "https://api.groq.com/openai/v1",
}

#: Providers that reject `stream_options` (they send usage in the last chunk anyway).
_NO_STREAM_OPTIONS = frozenset({"mistral"})


@dataclass(frozen=True, slots=True)
class Target:
    """Where one deployment is reached: its URL, its own model id, its headers."""

    url: str
    model: str
    headers: dict[str, str]
    stream_options: bool
    #: The output cap field the deployment takes; None: the field the caller used.
    cap_field: str | None = None


@dataclass(slots=True)
class StreamPiece:
    """A slice of a stream, ready to relay, with what the gateway must know about it.

    `sse` holds whole SSE events (possibly several, possibly none), `text` the content
    they generate, `usage` the provider's usage when these events carried it."""

    sse: bytes
    text: str = ""
    usage: dict[str, Any] | None = None
    id: str | None = None
    created: int | None = None
    tool_text: str = ""
    """Tool-call names and arguments these events generate (billed output, not content)."""


def target_for(spec: ModelSpec) -> Target | None:
    """The relay target of a deployment, or None when litellm must translate for it."""
    if spec.is_demo:
        return None
    params = spec.litellm_params
    provider, _, model = str(params["model"]).partition("/")
    if not model or provider not in OPENAI_COMPATIBLE:
        return None
    if any(key not in {"model", "api_base", "api_key"} for key in params):
        return None
    base = params.get("api_base") or OPENAI_COMPATIBLE[provider]
    if not base:
        return None
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if params.get("api_key"):
        headers["Authorization"] = f"Bearer {params['api_key']}"
    return Target(
        url=str(base).rstrip("/") + "/chat/completions",
        model=model,
        headers=headers,
        stream_options=provider not in _NO_STREAM_OPTIONS,
        cap_field=_cap_field(provider, bool(params.get("api_base"))),
    )


def _cap_field(provider: str, own_server: bool) -> str | None:
    """The output cap field a deployment takes: OpenAI's API `max_completion_tokens` (its
    reasoning models refuse `max_tokens`), the other hosted APIs `max_tokens`; a server at
    an operator's `api_base` gets the field the caller used (None)."""
    if own_server:
        return None
    return "max_completion_tokens" if provider == "openai" else "max_tokens"


def _status_error(status: int, body: bytes) -> GatewayError:
    """An upstream HTTP error status as the contract's error."""
    detail = _error_message(body)
    if status in (400, 413, 422):
        if "context" in detail.lower() and "length" in detail.lower():
            return GatewayError(400, "invalid_request", param="messages", detail="context window exceeded")
        return GatewayError(400, "invalid_request", detail=detail or f"upstream status {status}")
    if status == 408:
        return GatewayError(504, "upstream_timeout")
    return GatewayError(502, "upstream_error", detail=f"upstream status {status}")


def _error_message(body: bytes) -> str:
    try:
        error = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return ""
    message = error.get("message") if isinstance(error, dict) else error
    return str(message or "")[:200]


def transport_error(exc: BaseException) -> GatewayError:
    """A transport failure (timeout, refused, cut) as the contract's error."""
    if isinstance(exc, asyncio.TimeoutError):
        return GatewayError(504, "upstream_timeout")
    return GatewayError(502, "upstream_error", detail=type(exc).__name__)


#: What a failed call to an upstream raises: aiohttp's errors and its timeouts.
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
#: What a failed stream raises (`stream_client` fails with `OSError`s, timeouts included).
STREAM_ERRORS = (OSError, asyncio.TimeoutError)


class _IdleSweep:
    """Ends the streams whose upstream has sent nothing for `timeout_s`.

    aiohttp's `sock_read` timeout cancels and re-arms a timer on every read, a heap
    operation per chunk; here each stream notes when it last read (`_Watched.last`) and
    one task looks over all open streams every `every_s`, so a silent stream ends
    between `timeout_s` and `timeout_s + every_s` after its last byte."""

    def __init__(self, timeout_s: float, every_s: float = 1.0):
        self.timeout_s = timeout_s
        self.every_s = min(every_s, max(timeout_s / 4, 0.01))
        self.open: set[_Watched] = set()
        self._task: asyncio.Task[None] | None = None

    def watch(self, response: StreamResponse) -> _Watched:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._sweep(), name="sobria-relay-idle-sweep")
        watched = _Watched(response)
        self.open.add(watched)
        return watched

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            late = time.monotonic() - self.timeout_s
            for watched in [w for w in self.open if w.last < late]:
                self.open.discard(watched)
                watched.response.fail(TimeoutError("no data from upstream"))

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


class _Watched:
    """One open stream for the idle sweep: its response and when it last read."""

    __slots__ = ("response", "last")

    def __init__(self, response: StreamResponse):
        self.response = response
        self.last = time.monotonic()


class Relay:
    """Calls OpenAI-compatible upstreams: plain calls through one pooled
    `aiohttp.ClientSession`, streams through the pooled `StreamClient`.

    `max_connections` bounds the pool (a request beyond it waits for a connection): it
    must stay above the streams a worker holds, since each holds its connection for its
    whole length (bench/streams_scale.py: with 1,000, half of 2,000 streams waited and
    400 timed out)."""

    def __init__(self, timeout_s: float, max_connections: int = 10_000, fast: bool = True):
        self._connect_timeout_s = min(timeout_s, 10.0)
        self.timeout = aiohttp.ClientTimeout(total=None, connect=self._connect_timeout_s, sock_read=timeout_s)
        self.max_connections = max_connections
        self.fast = fast
        self.idle = _IdleSweep(timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._streams: StreamClient | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The shared session, opened on first use (it must be made inside the running loop)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0, keepalive_timeout=30.0,
                                             ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self.timeout, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True
            )
        return self._session

    @property
    def streams(self) -> StreamClient:
        """The streams' own client (`stream_client`), made on first use."""
        if self._streams is None:
            self._streams = StreamClient(self._connect_timeout_s, self.max_connections, keepalive_s=30.0)
        return self._streams

    async def aclose(self) -> None:
        await self.idle.aclose()
        if self._session is not None:
            await self._session.close()
        if self._streams is not None:
            await self._streams.aclose()

    async def _post_json(self, url: str, headers: dict[str, str], wire: dict[str, Any], listed: str) -> dict[str, Any]:
        """POST `wire` and return the answer, an object whose `listed` field is a list;
        transport failures, error statuses and malformed answers as the contract's errors."""
        try:
            async with self.session.post(url, data=orjson.dumps(wire), headers=headers,
                                         allow_redirects=False) as response:
                status, content = response.status, await response.read()
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc) from exc
        if status != 200:
            raise _status_error(status, content)
        try:
            answer = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise GatewayError(502, "upstream_error", detail="malformed JSON from upstream") from None
        if not isinstance(answer, dict) or not isinstance(answer.get(listed), list):
            raise GatewayError(502, "upstream_error", detail=f"upstream answer has no {listed}")
        return answer

    async def complete(self, target: Target, payload: dict[str, Any]) -> dict[str, Any]:
        """One plain call; the upstream's answer as a dict."""
        return await self._post_json(target.url, target.headers, {**payload, "model": target.model}, "choices")

    async def embed(self, target: Target, inputs: Any, params: dict[str, Any]) -> dict[str, Any]:
        """One embeddings call to the deployment's `/embeddings`."""
        url = target.url.removesuffix("/chat/completions") + "/embeddings"
        return await self._post_json(url, target.headers, {**params, "input": inputs, "model": target.model}, "data")

    async def stream(self, target: Target, payload: dict[str, Any], served: str) -> AsyncIterator[StreamPiece]:
        """Open a stream (errors before the first byte raise here) and relay its events."""
        wire: dict[str, Any] = {**payload, "model": target.model, "stream": True}
        if target.stream_options:
            wire["stream_options"] = {"include_usage": True}
        try:
            # Until the answer's head: bounded as a plain call is; after it, by the idle sweep.
            async with asyncio.timeout(self.idle.timeout_s):
                response = await self.streams.post(target.url, target.headers, orjson.dumps(wire))
        except STREAM_ERRORS as exc:
            raise transport_error(exc) from exc
        if response.status != 200:
            try:
                async with asyncio.timeout(self.idle.timeout_s):
                    body = await response.read_all()
            except STREAM_ERRORS:
                body = b""
            finally:
                response.close()
            raise _status_error(response.status, body)
        return _events(response, _Stream(_ModelRewrite(target.model, served), self.fast), self.idle)


class _ModelRewrite:
    """Puts the gateway's model name in relayed events without re-serialising them."""

    __slots__ = ("served", "_pairs")

    def __init__(self, upstream_model: str, served: str):
        self.served = served
        self._pairs: dict[str, tuple[tuple[bytes, bytes], ...]] = {}
        self._pairs_for(upstream_model)

    def _pairs_for(self, model: str) -> tuple[tuple[bytes, bytes], ...]:
        pairs = self._pairs.get(model)
        if pairs is None:
            old, new = orjson.dumps(model), orjson.dumps(self.served)
            pairs = ((b'"model":' + old, b'"model":' + new), (b'"model": ' + old, b'"model": ' + new))
            self._pairs[model] = pairs
        return pairs

    def replacement(self, event: bytes, data: dict[str, Any]) -> tuple[int, bytes, bytes] | None:
        """Where `apply` replaces the model in `event` (offset, old, new); None: it does not."""
        model = data.get("model")
        if model is None or model == self.served:
            return None
        for old, new in self._pairs_for(str(model)):
            at = event.find(old)
            if at >= 0:
                return at, old, new
        return None

    def apply(self, event: bytes, data: dict[str, Any]) -> bytes:
        model = data.get("model")
        if model is None or model == self.served:
            return event
        found = self.replacement(event, data)
        if found is not None:
            at, old, new = found
            return event[:at] + new + event[at + len(old):]
        data["model"] = self.served
        return b"data: " + orjson.dumps(data)


#: What may not appear in a content text read from bytes: a quote or a backslash (JSON
#: syntax and escapes) and control characters (invalid unescaped in a JSON string).
_NOT_PLAIN = re.compile(rb'[\x00-\x1f"\\]')
_CONTENT = b'"content":"'


class _Template:
    """A plain content event the JSON parser has read, as the bytes around its text.

    An event with no backslash has no escapes, so each of its quotes opens or closes a
    string. If it holds `"content"` exactly once, as the single choice's `delta.content`,
    with no usage, tool calls or error, then any event made of the same bytes before and
    after the text (`prefix`, `suffix`), with a text free of quotes, backslashes and
    control characters that decodes as UTF-8, is the same JSON object with another
    content string: its text is those bytes, and it relays as the template did (the
    model renamed at the same offset, when it is)."""

    __slots__ = ("prefix", "suffix", "out_prefix", "id", "created", "size")

    def __init__(self, prefix: bytes, suffix: bytes, out_prefix: bytes, id: Any, created: Any):
        self.prefix, self.suffix, self.out_prefix = prefix, suffix, out_prefix
        self.id, self.created = id, created
        self.size = len(prefix) + len(suffix)

    @classmethod
    def of(cls, event: bytes, data: dict[str, Any], rewrite: _ModelRewrite) -> _Template | None:
        """The template of an event the parser read, or None when it is not a plain content event."""
        if b"\\" in event or b"\n" in event or event.count(b'"content"') != 1:
            return None
        choices = data.get("choices")
        if data.get("usage") or "error" in data or not isinstance(choices, list) or len(choices) != 1:
            return None
        choice = choices[0]
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict) or delta.get("tool_calls") or not isinstance(delta.get("content"), str):
            return None
        start = event.find(_CONTENT)
        if start < 0:
            return None
        start += len(_CONTENT)
        end = event.find(b'"', start)
        if event[start:end].decode() != delta["content"]:
            return None
        prefix, suffix = event[:start], event[end:]
        found = rewrite.replacement(event, data)
        if found is None:
            if data.get("model") not in (None, rewrite.served):
                return None  # the rewrite re-serialises such an event: no bytes to keep
            out_prefix = prefix
        else:
            at, old, new = found
            if at + len(old) > len(prefix):
                return None
            out_prefix = prefix[:at] + new + prefix[at + len(old):]
        return cls(prefix, suffix, out_prefix, data.get("id"), data.get("created"))

    def text(self, event: bytes) -> str | None:
        """The content text of `event` if it is this template's shape, else None."""
        if len(event) < self.size or not event.startswith(self.prefix) or not event.endswith(self.suffix):
            return None
        raw = event[len(self.prefix):len(event) - len(self.suffix)]
        if _NOT_PLAIN.search(raw) is not None:
            return None
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return None


class _Stream:
    """What the relay keeps per stream: the model rewrite and the last plain template."""

    __slots__ = ("rewrite", "template", "fast", "parsed")

    def __init__(self, rewrite: _ModelRewrite, fast: bool = True):
        self.rewrite = rewrite
        self.template: _Template | None = None
        self.fast = fast
        self.parsed = 0
        """Events read by the JSON parser (the others matched the template)."""


def _data_of(event: bytes) -> bytes | None:
    """The `data:` payload of one SSE event (None for comments and other fields)."""
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            return line[5:].strip()
    return None


async def _events(response: StreamResponse, stream: _Stream, idle: _IdleSweep) -> AsyncIterator[StreamPiece]:
    """Split the byte stream into SSE events; forward content events as they came."""
    buffer = b""
    watched = idle.watch(response)
    try:
        while data := await response.read():
            watched.last = time.monotonic()
            buffer += data
            if b"\r" in buffer:
                buffer = buffer.replace(b"\r\n", b"\n")
            if b"\n\n" not in buffer:
                continue
            complete, _, buffer = buffer.rpartition(b"\n\n")
            piece = _piece(complete.split(b"\n\n"), stream)
            if piece is not None:
                yield piece
    except STREAM_ERRORS as exc:
        raise transport_error(exc) from exc
    finally:
        idle.open.discard(watched)
        response.close()


def _piece(events: list[bytes], stream: _Stream) -> StreamPiece | None:
    """What `events` relay and generate: a plain content event matching the stream's
    template is read from its bytes, any other event by the JSON parser."""
    out: list[bytes] = []
    text = tool_text = ""
    piece = StreamPiece(b"")
    rewrite = stream.rewrite
    for event in events:
        template = stream.template
        if template is not None:
            content = template.text(event)
            if content is not None:
                if piece.id is None:
                    piece.id, piece.created = template.id, template.created
                text += content
                if template.out_prefix is template.prefix:
                    out.append(event + b"\n\n")
                else:
                    out.append(template.out_prefix + event[len(template.prefix):] + b"\n\n")
                continue
        payload = _data_of(event)
        if not payload or payload == b"[DONE]":
            continue
        stream.parsed += 1
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise GatewayError(502, "upstream_error", detail="malformed JSON in upstream stream") from None
        if not isinstance(data, dict) or "error" in data:
            raise GatewayError(502, "upstream_error", detail=_error_message(payload) or "upstream stream error")
        if piece.id is None:
            piece.id, piece.created = data.get("id"), data.get("created")
        choices = data.get("choices")
        usage = data.get("usage")
        if usage:
            piece.usage = usage
        if not choices:
            continue
        for choice in choices:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                text += content
            if delta.get("tool_calls"):
                tool_text += tool_call_text(delta["tool_calls"])
        if usage:
            del data["usage"]
            data["model"] = rewrite.served
            out.append(b"data: " + orjson.dumps(data) + b"\n\n")
        else:
            if stream.fast:
                stream.template = _Template.of(event, data, rewrite) or stream.template
            out.append(rewrite.apply(event, data) + b"\n\n")
    if not out and piece.usage is None:
        return None
    piece.sse = b"".join(out) if len(out) != 1 else out[0]
    piece.text = text
    piece.tool_text = tool_text
    return piece
