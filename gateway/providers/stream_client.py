"""A lean HTTP/1.1 client for the relay's long streams: one POST, an SSE body read as it comes.

At 2,000 streams per worker the relay's cost per chunk is the worker's limit
(bench/streams_scale.py), and aiohttp's client took about 30 % of a saturated worker
there: each chunk runs a dozen Python calls in its stream reader (feed, chunk marks, a
future per read, a reading resumed after every read). Here the parser is httptools (the
llhttp parser uvicorn already serves with, in C); a chunk costs one `data_received`,
one `on_body` and the consumer's wake-up. The client does only what the relay needs:
keep-alive connections pooled per origin, TLS with the system's trust store, a bounded
number of connections, identity or gzip/deflate bodies, and errors as `OSError`s
(`TimeoutError` when a deadline passed). Plain calls and embeddings stay on aiohttp."""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from typing import cast
from urllib.parse import urlsplit

import httptools

#: Body bytes a stream may hold unread before its connection stops reading.
_HIGH_WATER_BYTES = 1 << 20
#: An error answer is read up to this size (the rest is dropped with the connection).
_ERROR_BODY_BYTES = 1 << 16


class UpstreamProtocolError(ConnectionError):
    """The upstream broke HTTP/1.1 or closed the connection before its answer ended."""


class ClosedBeforeAnswer(UpstreamProtocolError):
    """The connection closed before any byte of the answer (on a pooled connection, the
    server had timed it out meanwhile: the request can be sent again)."""


class StreamResponse:
    """One answer: its status and headers once `head` is done, then its body as it arrives."""

    __slots__ = ("status", "headers", "_connection", "_loop", "head", "_body", "_size", "_waiter",
                 "_complete", "_error", "_decoder", "_close_delimited", "_released")

    def __init__(self, connection: _Connection, loop: asyncio.AbstractEventLoop):
        self.status = 0
        self.headers: dict[str, str] = {}
        self._connection = connection
        self._loop = loop
        self.head: asyncio.Future[None] = loop.create_future()
        self._body: deque[bytes] = deque()
        self._size = 0
        self._waiter: asyncio.Future[None] | None = None
        self._complete = False
        self._error: BaseException | None = None
        self._decoder: zlib._Decompress | None = None
        self._close_delimited = False
        self._released = False

    # -- what the connection's parser reports ------------------------------------------

    def headers_complete(self, status: int, headers: dict[str, str]) -> None:
        self.status, self.headers = status, headers
        encoding = headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()
        elif encoding not in ("identity", ""):
            self.fail(UpstreamProtocolError(f"unsupported content-encoding {encoding}"))
            return
        self._close_delimited = "content-length" not in headers and "chunked" not in headers.get(
            "transfer-encoding", "").lower()
        if not self.head.done():
            self.head.set_result(None)

    def body(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error as exc:
                self.fail(UpstreamProtocolError(f"undecodable body: {exc}"))
                return
            if not data:
                return
        self._body.append(data)
        self._size += len(data)
        if self._size > _HIGH_WATER_BYTES:
            self._connection.pause()
        self._wake()

    def message_complete(self) -> None:
        if self._decoder is not None:
            try:
                tail = self._decoder.flush()
            except zlib.error as exc:
                self.fail(UpstreamProtocolError(f"undecodable body: {exc}"))
                return
            if tail:
                self._body.append(tail)
        self._complete = True
        self._wake()
        self._release()

    def fail(self, error: BaseException) -> None:
        """End the answer with `error` (a read in progress raises it), closing its connection."""
        if self._complete or self._error is not None:
            return
        self._error = error
        if not self.head.done():
            self.head.set_exception(error)
            self.head.exception()  # retrieved: whoever awaits it gets it raised
        self._wake()
        self._connection.close()
        self._release()

    def lost(self, exc: BaseException | None, fed: bool) -> None:
        """The connection ended: the end of a close-delimited body, or a cut (`fed`: after
        some bytes of this answer)."""
        if self.head.done() and self._close_delimited and exc is None:
            self.message_complete()
        elif not fed:
            self.fail(ClosedBeforeAnswer("upstream closed the connection before answering"))
        else:
            self.fail(exc or UpstreamProtocolError("upstream closed the connection mid-answer"))

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- what the relay calls ----------------------------------------------------------

    async def read(self) -> bytes:
        """The body bytes that arrived since the last read (waiting for some); b"" at the end."""
        while not self._body:
            if self._error is not None:
                raise self._error
            if self._complete:
                return b""
            self._waiter = self._loop.create_future()
            await self._waiter
        body = self._body
        data = body.popleft() if len(body) == 1 else b"".join([body.popleft() for _ in range(len(body))])
        if self._size > _HIGH_WATER_BYTES and not self._complete:
            self._connection.resume()
        self._size = 0
        return data

    async def read_all(self, limit: int = _ERROR_BODY_BYTES) -> bytes:
        """The whole body, up to `limit` bytes (an error answer, read to report it)."""
        parts: list[bytes] = []
        size = 0
        while size < limit and (data := await self.read()):
            parts.append(data)
            size += len(data)
        return b"".join(parts)[:limit]

    def close(self) -> None:
        """Done with the answer: an unfinished one closes its connection, a finished one is pooled."""
        if not self._complete:
            self._connection.close()
        self._release()

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._connection.finished(self)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection, one exchange at a time, parsed by httptools."""

    def __init__(self, pool: StreamClient, origin: tuple[str, str, int]):
        self.pool, self.origin = pool, origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser: httptools.HttpResponseParser | None = None
        self._answer: StreamResponse | None = None
        self._header_names: list[bytes] = []
        self._header_values: list[bytes] = []
        self._paused = False
        self._fed = False
        self._informational = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        answer, parser = self._answer, self._parser
        if answer is None or parser is None:
            self.close()  # bytes nobody asked for: the connection cannot be trusted
            return
        self._fed = True
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as exc:
            answer.fail(UpstreamProtocolError(f"malformed HTTP answer: {exc}"))

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer, self._answer = self._answer, None
        if answer is not None:
            answer.lost(exc, self._fed)
        self.pool.forget(self)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_names.append(name)
        self._header_values.append(value)

    def on_headers_complete(self) -> None:
        answer, parser = self._answer, self._parser
        assert answer is not None and parser is not None
        headers = {name.decode("latin-1").lower(): value.decode("latin-1")
                   for name, value in zip(self._header_names, self._header_values, strict=True)}
        self._header_names, self._header_values = [], []
        status = parser.get_status_code()
        if 100 <= status < 200:
            self._informational = True  # a `100 Continue` or `103 Early Hints`: the answer follows
            return
        answer.headers_complete(status, headers)

    def on_body(self, body: bytes) -> None:
        answer = self._answer
        if answer is not None:
            answer.body(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        answer, parser = self._answer, self._parser
        if answer is not None:
            keep = parser is not None and parser.should_keep_alive()
            if not keep:
                self.closed = True
            answer.message_complete()

    # used by the answer and the pool
    def start(self, request: bytes, loop: asyncio.AbstractEventLoop) -> StreamResponse:
        assert self.transport is not None
        answer = StreamResponse(self, loop)
        self._answer = answer
        self._fed = False
        self._parser = httptools.HttpResponseParser(self)
        self.transport.write(request)
        return answer

    def finished(self, answer: StreamResponse) -> None:
        if self._answer is answer:
            self._answer = None
        self.resume()  # an answer that ended while its reading was paused leaves it paused
        self.pool.give_back(self)

    def pause(self) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class StreamClient:
    """POSTs that answer with a stream, over keep-alive connections pooled per origin.

    At most `max_connections` answers are open at once (a request beyond waits). An idle
    connection is reused for `keepalive_s`, then closed."""

    def __init__(self, connect_timeout_s: float, max_connections: int = 10_000, keepalive_s: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None):
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self._ssl = ssl_context
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._closed = False

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> StreamResponse:
        """Send the request; the answer once its head has arrived (the caller bounds the wait)."""
        if self._closed:
            raise UpstreamProtocolError("client closed")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamProtocolError(f"unsupported URL {url!r}")
        port = parts.port or (443 if scheme == "https" else 80)
        origin = (scheme, parts.hostname, port)
        request = _request(parts.path or "/", parts.query, _host_header(parts.hostname, port, scheme), headers, body)
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()  # held by the answer until it ends (`give_back`)
            pooled = self._idle_connection(origin)
            try:
                connection = pooled or await self._connect(origin)
            except BaseException:
                self._slots.release()
                raise
            self._busy.add(connection)
            answer = connection.start(request, loop)
            try:
                await answer.head
            except ClosedBeforeAnswer:
                answer.close()
                if pooled is None:
                    raise
                continue  # the server had closed the pooled connection meanwhile: once more, on a new one
            except BaseException:
                answer.close()
                raise
            return answer

    def _idle_connection(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and connection.transport is not None and not connection.transport.is_closing() \
                    and now - connection.idle_since < self.keepalive_s:
                return connection
            connection.close()
        return None

    async def _connect(self, origin: tuple[str, str, int]) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls = scheme == "https"
        async with asyncio.timeout(self.connect_timeout_s):
            _, connection = await loop.create_connection(
                lambda: _Connection(self, origin), host, port,
                ssl=self._ssl_context() if tls else None, server_hostname=host if tls else None,
            )
        return connection

    def give_back(self, connection: _Connection) -> None:
        """An answer ended: its slot is free, and its connection pooled if it can serve again."""
        if connection in self._busy:
            self._busy.discard(connection)
            self._slots.release()
        if connection.closed or self._closed:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        self._idle.setdefault(connection.origin, deque()).append(connection)

    def forget(self, connection: _Connection) -> None:
        """A connection closed (by either side): drop it from the pool."""
        idle = self._idle.get(connection.origin)
        if idle is not None and connection in idle:
            idle.remove(connection)

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        for connection in list(self._busy):
            connection.close()


def _host_header(host: str, port: int, scheme: str) -> str:
    name = f"[{host}]" if ":" in host else host
    return name if port == (443 if scheme == "https" else 80) else f"{name}:{port}"


#: Headers the client writes itself; the caller's versions are ignored.
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "accept-encoding"})


def _request(path: str, query: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    """The request's bytes. A header with a line break is refused (it would inject another)."""
    target = f"{path}?{query}" if query else path
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
             "Accept-Encoding: gzip, deflate"]
    given = {name.lower() for name in headers}
    if "content-type" not in given:
        lines.append("Content-Type: application/json")
    if "accept" not in given:
        lines.append("Accept: text/event-stream")
    for name, value in headers.items():
        if name.lower() in _OWN_HEADERS:
            continue
        if any(c in name or c in value for c in "\r\n\0") or not name:
            raise UpstreamProtocolError(f"invalid header {name!r}")
        lines.append(f"{name}: {value}")
    try:
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise UpstreamProtocolError("a header is not Latin-1") from None
    return head + body
