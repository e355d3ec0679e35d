"""A lean paced upstream and a lean streaming client, on raw asyncio protocols.

At thousands of concurrent streams a Starlette mock and an aiohttp client cost more CPU
per chunk than the gateway they measure; these two do only what the measurement needs.

- `serve(port, pace_s, stream_s)`: answers every `POST .../chat/completions` with an
  OpenAI-style SSE stream (chunked), one content chunk every `pace_s` for `stream_s`
  seconds on a fixed schedule (`loop.call_at`), each carrying its send time
  (`"content":"t<unix seconds> "`), then a stop chunk, a usage chunk and `[DONE]`.
  Keep-alive connections serve one request after another.
- `stream(host, port, path, headers, body)`: one POST, reads the stream, returns
  the (send time, arrival time) of every content chunk and whether `[DONE]` came.
"""

from __future__ import annotations

import asyncio
import json
import time

STAMP = b'"content":"t'


class _Upstream(asyncio.Protocol):
    def __init__(self, pace_s: float, stream_s: float):
        self.pace_s, self.count = pace_s, max(1, round(stream_s / pace_s))
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._next_request()

    def _next_request(self) -> None:
        if self.busy or b"\r\n\r\n" not in self.buffer:
            return
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(rest) < length:
            return
        body, self.buffer = rest[:length], rest[length:]
        model = str(json.loads(body or b"{}").get("model", "mock"))
        self.busy = True
        self.head = ('data: {"id":"chatcmpl-paced","object":"chat.completion.chunk","created":1,"model":%s,'
                     '"choices":[{"index":0,"delta":{"content":"t' % json.dumps(model)).encode()
        self.model = model
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
        loop = asyncio.get_running_loop()
        self.sent, self.due = 0, loop.time() + self.pace_s
        loop.call_at(self.due, self._tick)

    def _chunk(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(b"%x\r\n%s\r\n" % (len(payload), payload))

    def _tick(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self._chunk(self.head + b"%.6f" % time.time() + b' "},"finish_reason":null}]}\n\n')
        self.sent += 1
        if self.sent < self.count:
            self.due += self.pace_s
            asyncio.get_running_loop().call_at(self.due, self._tick)
            return
        base = {"id": "chatcmpl-paced", "object": "chat.completion.chunk", "created": 1, "model": self.model}
        stop = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        usage = {**base, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": self.count,
                                                   "total_tokens": 12 + self.count}}
        self._chunk(f"data: {json.dumps(stop)}\n\ndata: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        self.transport.write(b"0\r\n\r\n")
        self.busy = False
        self._next_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int, pace_s: float, stream_s: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Upstream(pace_s, stream_s), "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


class _Client(asyncio.Protocol):
    def __init__(self, done: asyncio.Future):
        self.done = done
        self.buffer = b""
        self.status = b""
        self.sent: list[float] = []
        self.received: list[float] = []
        self.finished = False

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.status and b"\r\n" in self.buffer:
            self.status = self.buffer.split(b"\r\n", 1)[0]
        cut = self.buffer.rfind(b"\n\n")
        if cut < 0:
            return
        ready, self.buffer = self.buffer[:cut], self.buffer[cut + 2:]
        at = ready.find(STAMP)
        while at >= 0:
            start = at + len(STAMP)
            end = ready.index(b" ", start)
            self.sent.append(float(ready[start:end]))
            self.received.append(now)
            at = ready.find(STAMP, end)
        if b"data: [DONE]" in ready:
            self.finished = True
            if not self.done.done():
                self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def stream(host: str, port: int, path: str, headers: dict[str, str], body: bytes,
                 timeout_s: float) -> tuple[list[float], list[float], bool, str]:
    """One streamed POST on its own connection: send times, arrival times, [DONE] seen, status line."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()
    transport, client = await loop.create_connection(lambda: _Client(done), host, port)
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
    transport.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    try:
        await asyncio.wait_for(done, timeout_s)
    finally:
        transport.close()
    return client.sent, client.received, client.finished, client.status.decode(errors="replace")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the lean paced upstream")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pace-ms", type=float, default=100.0)
    parser.add_argument("--stream-s", type=float, default=30.0)
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.port, args.pace_ms / 1000, args.stream_s))
