"""The relay's stream client, against raw HTTP/1.1 servers that answer the way real ones may:
chunked or sized or close-delimited bodies, gzip, keep-alive and its races, cuts, garbage, TLS."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.providers.stream_client import StreamClient, UpstreamProtocolError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., StreamClient]]:
    """Stream clients for one test (connect timeout 1 s), all closed after it."""
    made: list[StreamClient] = []

    def make(**options: Any) -> StreamClient:
        made.append(StreamClient(1.0, **options))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
def client(make_client: Callable[..., StreamClient]) -> StreamClient:
    return make_client()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One request's head and body, read by Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return head, await reader.readexactly(length)


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


OK_CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


@asynccontextmanager
async def server(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[tuple[str, list[int]]]:
    """A server on a free port; yields its base URL and the list of connections it accepted."""
    accepted: list[int] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(counted, "127.0.0.1", 0, ssl=tls)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}/v1/chat/completions", accepted
    finally:
        listening.close()


async def body_of(client: StreamClient, url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    answer = await client.post(url, headers or {}, b'{"stream":true}')
    try:
        parts = []
        while data := await answer.read():
            parts.append(data)
        return answer.status, b"".join(parts)
    finally:
        answer.close()


async def test_a_chunked_stream_is_read_whole_and_its_connection_serves_the_next_request(client):
    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(3):
            await read_request(reader)
            writer.write(OK_CHUNKED + chunked(b"data: a\n\n", b"data: b\n\n", b"data: [DONE]\n\n"))
            await writer.drain()
        await reader.read()

    async with server(keep_alive) as (url, accepted):
        for _ in range(3):
            assert await body_of(client, url) == (200, b"data: a\n\ndata: b\n\ndata: [DONE]\n\n")
    assert len(accepted) == 1


async def test_the_request_carries_the_callers_headers_a_length_and_the_body(client):
    seen: list[tuple[bytes, bytes]] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(OK_CHUNKED + chunked(b"data: x\n\n"))
        await writer.drain()

    async with server(record) as (url, _):
        await body_of(client, url + "?api-version=1", {"Authorization": "Bearer k", "Content-Length": "999"})
    head, body = seen[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions?api-version=1 HTTP/1.1"
    assert "Authorization: Bearer k" in lines
    assert "Content-Length: 15" in lines  # the client's own, not the caller's
    assert body == b'{"stream":true}'


async def test_sized_and_close_delimited_bodies_end_where_the_server_ends_them(client):
    async def sized(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ndata: s\n\n")
        await writer.drain()
        await reader.read()

    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\ndata: c1\n\n")
        await writer.drain()
        writer.write(b"data: c2\n\n")
        await writer.drain()

    async with server(sized) as (url, _):
        assert await body_of(client, url) == (200, b"data: s\n\n")
    async with server(until_close) as (url, _):
        assert await body_of(client, url) == (200, b"data: c1\n\ndata: c2\n\n")


async def test_an_informational_answer_before_the_real_one_is_skipped(client):
    async def early_hints(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n")
        writer.write(OK_CHUNKED + chunked(b"data: after hints\n\n"))
        await writer.drain()

    async with server(early_hints) as (url, _):
        assert await body_of(client, url) == (200, b"data: after hints\n\n")


async def test_a_fast_upstream_and_a_slow_reader_lose_nothing_and_the_connection_serves_again(client):
    parts = [b"data: %06d %s\n\n" % (i, b"x" * 65_000) for i in range(64)]  # 4 MB, over the 1 MB mark

    async def fast(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK_CHUNKED + chunked(*parts))
        await writer.drain()
        await read_request(reader)
        writer.write(OK_CHUNKED + chunked(b"data: next\n\n"))
        await writer.drain()
        await reader.read()

    async with server(fast) as (url, accepted):
        answer = await client.post(url, {}, b"{}")
        received = []
        async with asyncio.timeout(10):
            while data := await answer.read():
                received.append(data)
                await asyncio.sleep(0.01)  # a client downstream reading slowly
            answer.close()
            assert await body_of(client, url) == (200, b"data: next\n\n")
    assert b"".join(received) == b"".join(parts)
    assert len(accepted) == 1  # the connection paused while 1 MB waited unread went back to the pool reading


async def test_an_answer_that_ends_as_its_reading_pauses_leaves_a_connection_that_reads_again(client):
    whole = b"data: " + b"y" * ((1 << 20) + 100) + b"\n\n"  # just over the 1 MB mark, sent at once

    async def at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK_CHUNKED + chunked(whole))
        await writer.drain()
        await read_request(reader)
        writer.write(OK_CHUNKED + chunked(b"data: next\n\n"))
        await writer.drain()
        await reader.read()

    async with server(at_once) as (url, accepted):
        answer = await client.post(url, {}, b"{}")
        await asyncio.sleep(0.3)  # the whole answer arrives, unread: the last bytes pass the mark
        async with asyncio.timeout(5):
            assert await answer.read_all(limit=1 << 21) == whole
            answer.close()
            assert await body_of(client, url) == (200, b"data: next\n\n")
    assert len(accepted) == 1


async def test_a_gzip_stream_is_decoded(client):
    async def compressed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        packed = gzip.compress(b"data: zipped\n\ndata: [DONE]\n\n")
        writer.write(OK_CHUNKED.replace(b"\r\n\r\n", b"\r\nContent-Encoding: gzip\r\n\r\n")
                     + chunked(packed[:10], packed[10:]))
        await writer.drain()

    async with server(compressed) as (url, _):
        assert await body_of(client, url) == (200, b"data: zipped\n\ndata: [DONE]\n\n")


async def test_a_stream_cut_mid_chunk_raises_and_its_connection_is_not_reused(client):
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK_CHUNKED + b"20\r\ndata: only half")
        await writer.drain()

    async with server(cut) as (url, accepted):
        for _ in range(2):
            answer = await client.post(url, {}, b"{}")
            assert await answer.read() == b"data: only half"
            with pytest.raises(UpstreamProtocolError):
                await answer.read()
            answer.close()
    assert len(accepted) == 2


async def test_garbage_instead_of_http_is_an_upstream_protocol_error(client):
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"\x00\x01 not http at all\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async with server(garbage) as (url, _):
        with pytest.raises(UpstreamProtocolError):
            await client.post(url, {}, b"{}")


async def test_a_pooled_connection_the_server_closed_meanwhile_is_replaced_without_an_error(client):
    async def one_answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK_CHUNKED + chunked(b"data: once\n\n"))
        await writer.drain()
        await asyncio.sleep(0.1)  # then closes, as a server whose keep-alive timeout ran out

    async with server(one_answer_then_close) as (url, accepted):
        assert await body_of(client, url) == (200, b"data: once\n\n")
        await asyncio.sleep(0.3)
        assert await body_of(client, url) == (200, b"data: once\n\n")
    assert len(accepted) == 2


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(client):
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise AssertionError("nothing may reach the server")

    async with server(never) as (url, accepted):
        with pytest.raises(UpstreamProtocolError):
            await client.post(url, {"X-Evil": "a\r\nX-Injected: 1"}, b"{}")
    assert accepted == []


async def test_beyond_max_connections_a_request_waits_for_an_answer_to_end(make_client):
    release = asyncio.Event()

    async def held(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(OK_CHUNKED + b"9\r\ndata: 1\n\n\r\n")
            await writer.drain()
            await release.wait()
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async with server(held) as (url, accepted):
        client = make_client(max_connections=1)
        first = await client.post(url, {}, b"{}")
        second = asyncio.create_task(client.post(url, {}, b"{}"))
        await asyncio.sleep(0.2)
        assert not second.done() and len(accepted) == 1
        release.set()
        while await first.read():
            pass
        first.close()
        async with asyncio.timeout(2):
            (await second).close()


def _self_signed(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for 127.0.0.1 and a client context trusting only that certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(cert_file))
    return serving, trusting


async def test_over_tls_the_stream_is_read_and_an_untrusted_certificate_is_refused(tmp_path, make_client):
    serving, trusting = _self_signed(tmp_path)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK_CHUNKED + chunked(b"data: secret\n\n"))
        await writer.drain()

    async with server(answer, tls=serving) as (url, _):
        client = make_client(ssl_context=trusting)
        assert await body_of(client, url) == (200, b"data: secret\n\n")
        system_trust = make_client()
        with pytest.raises(ssl.SSLError):
            await system_trust.post(url, {}, b"{}")
