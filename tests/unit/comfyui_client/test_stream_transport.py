"""StreamTransport (the client's default transport) against a raw asyncio HTTP/1.1 server on loopback:
framing (length, chunked, until close), keep-alive reuse, streamed large bodies, and failures translated
into the client's error tree exactly as with httpx's own transport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from comfyui_client import ComfyClient, ComfyTimeout, ComfyUnavailable, NotFound, StreamTransport
from comfyui_client.transport import EAGER_BYTES

Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]  # request head+body -> keep the connection


@asynccontextmanager
async def server(answer: Answer) -> AsyncIterator[tuple[str, list[bytes], list[int]]]:
    """A loopback server; yields (base URL, requests seen, connections accepted)."""
    seen: list[bytes] = []
    accepted: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + (await reader.readexactly(length) if length else b"")
                seen.append(request)
                if not await answer(request, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen, accepted
    finally:
        srv.close()


def reply(status: int, body: bytes, *extra: bytes) -> bytes:
    head = [f"HTTP/1.1 {status} X".encode(), b"Content-Length: " + str(len(body)).encode(), *extra]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def test_keep_alive_reuses_one_connection_and_sends_the_body() -> None:
    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        if request.startswith(b"POST /prompt"):
            body = json.loads(request.split(b"\r\n\r\n", 1)[1])
            payload = {"prompt_id": body["prompt_id"], "number": 3, "node_errors": {}}
            writer.write(reply(200, json.dumps(payload).encode(), b"Content-Type: application/json"))
        else:
            writer.write(reply(200, b'{"queue_running": [], "queue_pending": []}'))
        await writer.drain()
        return True

    async with server(answer) as (url, seen, accepted):
        transport = StreamTransport()
        async with ComfyClient(url, transport=transport) as comfy:
            submitted = await comfy.submit({"1": {"class_type": "X", "inputs": {}}})
            for _ in range(3):
                assert (await comfy.queue()).pending == []
    assert submitted.number == 3
    assert len(seen) == 4 and len(accepted) == 1 and transport.opened == 1
    assert seen[0].startswith(b"POST /prompt HTTP/1.1\r\n") and b"\r\nHost: 127.0.0.1:" in seen[0]


async def test_chunked_and_until_close_bodies() -> None:
    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        if b"/chunked" in request:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")
            await writer.drain()
            return True
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
        await writer.drain()
        return False

    async with server(answer) as (url, _, accepted), httpx.AsyncClient(transport=StreamTransport()) as http:
        assert (await http.get(f"{url}/chunked")).content == b"hello world"
        assert (await http.get(f"{url}/chunked")).content == b"hello world"
        assert (await http.get(f"{url}/close")).content == b"until the end"
        assert (await http.get(f"{url}/chunked")).content == b"hello world"
    assert len(accepted) == 2  # the chunked answers kept theirs; the closed one needed a new one


async def test_a_large_body_is_streamed_and_the_connection_reused_after() -> None:
    big = bytes(range(256)) * (3 * EAGER_BYTES // 256 + 7)

    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(reply(200, big if b"/big" in request else b"{}"))
        await writer.drain()
        return True

    async with server(answer) as (url, _, accepted), httpx.AsyncClient(transport=StreamTransport()) as http:
        async with http.stream("GET", f"{url}/big") as resp:
            got = b"".join([chunk async for chunk in resp.aiter_raw()])
        assert got == big
        assert (await http.get(f"{url}/small")).content == b"{}"
        async with http.stream("GET", f"{url}/big") as resp:  # left unread: its connection is closed
            pass
        assert (await http.get(f"{url}/small")).content == b"{}"
    assert len(accepted) == 2


async def test_statuses_and_a_reused_connection_the_server_closed() -> None:
    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(reply(404, b"nope"))
        await writer.drain()
        return b"/drop" not in request  # closes right after answering: the pooled connection is dead

    async with server(answer) as (url, _, accepted), ComfyClient(url) as comfy:
        with pytest.raises(NotFound):
            await comfy.models("drop")
        await asyncio.sleep(0.05)
        with pytest.raises(NotFound):  # a fresh connection, not a broken one
            await comfy.models("drop")
    assert len(accepted) == 2


async def test_refused_and_silent_servers_are_the_clients_errors() -> None:
    async with server(lambda _r, _w: asyncio.sleep(0, False)) as (url, _, _):
        pass  # closed: its port now refuses
    async with ComfyClient(url, timeout=1.0) as comfy:
        with pytest.raises(ComfyUnavailable):
            await comfy.queue()

    async def silent(_request: bytes, _writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    async with server(silent) as (url, _, _), ComfyClient(url, timeout=0.2) as comfy:
        with pytest.raises(ComfyTimeout):
            await comfy.queue()
