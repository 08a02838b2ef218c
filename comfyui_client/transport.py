"""`StreamTransport`: a lean HTTP/1.1 keep-alive transport for httpx on asyncio streams.

httpx's default transport (httpcore over anyio and h11) spends more CPU per request than a gateway submit's
own work: its pool bookkeeping, anyio's socket wrappers and h11's state machine were about a quarter of the
gateway's CPU per submit (issue 13, `benchmarks http_cpu`). ComfyUI speaks plain HTTP/1.1 with
Content-Length or chunked bodies, which is all this transport does: one request at a time per connection,
idle connections kept per host, bodies up to `EAGER_BYTES` read at once, larger ones streamed.

It raises httpx's own exceptions (ConnectError, ConnectTimeout, ReadTimeout, WriteTimeout, ReadError,
WriteError, RemoteProtocolError), so `comfyui_client.http.ComfyHttp` translates them as before and a reused
connection the server had closed is retried there for a GET. Environment proxies are not used (ComfyUI is
addressed directly); inject `httpx.AsyncHTTPTransport()` where one is needed.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx

EAGER_BYTES = 65_536  # a body this small (a declared length) is read with the head: no streaming machinery
MAX_IDLE = 32  # idle keep-alive connections kept per host
_HEAD_LIMIT = 65_536  # the status line and headers of one answer


class _Connection:
    __slots__ = ("loop", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.loop = asyncio.get_running_loop()

    def usable(self) -> bool:
        return (
            self.loop is asyncio.get_running_loop()
            and not self.writer.is_closing()
            and not self.reader.at_eof()
            and not self.reader._buffer  # type: ignore[attr-defined]  # bytes nobody asked for: unusable
        )

    def close(self) -> None:
        if not self.loop.is_closed():
            self.writer.close()


class StreamTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio streams with keep-alive; see the module docstring."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, max_idle: int = MAX_IDLE) -> None:
        self._ssl = ssl_context
        self.max_idle = max_idle
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self.opened = 0  # connections opened (tests: keep-alive reuses them)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def _release(self, key: tuple[str, str, int], conn: _Connection) -> None:
        conns = self._idle.setdefault(key, [])
        if len(conns) < self.max_idle and conn.usable():
            conns.append(conn)
        else:
            conn.close()

    async def _connect(self, key: tuple[str, str, int], timeouts: dict[str, float | None]) -> _Connection:
        conns = self._idle.get(key)
        while conns:
            conn = conns.pop()
            if conn.usable():
                return conn
            conn.close()
        scheme, host, port = key
        context: ssl.SSLContext | None = None
        if scheme == "https":
            context = self._ssl or ssl.create_default_context()
        try:
            async with asyncio.timeout(timeouts.get("connect")):
                reader, writer = await asyncio.open_connection(host, port, ssl=context, limit=_HEAD_LIMIT)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        self.opened += 1
        return _Connection(reader, writer)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        key = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        body = await request.aread()
        head = _request_head(request, body)
        conn = await self._connect(key, timeouts)
        try:
            try:
                conn.writer.write(head + body if len(body) < EAGER_BYTES else head)
                if len(body) >= EAGER_BYTES:
                    conn.writer.write(body)
                async with asyncio.timeout(timeouts.get("write")):
                    await conn.writer.drain()
            except TimeoutError as exc:
                raise httpx.WriteTimeout("sending the request timed out") from exc
            except OSError as exc:
                raise httpx.WriteError(str(exc) or type(exc).__name__) from exc
            read_timeout = timeouts.get("read")
            status, reason, headers, keep_alive = await _read_head(conn.reader, read_timeout)
            length, chunked = _framing(request.method, status, headers)
            if length is not None and length <= EAGER_BYTES:
                content = await _read(conn.reader.readexactly(length), read_timeout) if length else b""
                if keep_alive:
                    self._release(key, conn)
                else:
                    conn.close()
                return httpx.Response(
                    status, headers=headers, content=content, extensions={"reason_phrase": reason}
                )
        except BaseException:
            conn.close()
            raise
        stream = _BodyStream(self, key, conn, length, chunked, keep_alive, read_timeout)
        return httpx.Response(status, headers=headers, stream=stream, extensions={"reason_phrase": reason})


def _request_head(request: httpx.Request, body: bytes) -> bytes:
    url = request.url
    target = url.raw_path or b"/"
    lines = [request.method.encode() + b" " + target + b" HTTP/1.1"]
    has_length = False
    for name, value in request.headers.raw:
        lower = name.lower()
        if lower == b"transfer-encoding":  # the body is read whole: sent with its length instead
            continue
        if lower == b"content-length":
            has_length = True
            value = str(len(body)).encode()
        lines.append(name + b": " + value)
    if body and not has_length:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _read(awaitable: Any, limit: float | None) -> bytes:
    """One read of the answer within `limit` seconds, its failures as httpx's."""
    try:
        async with asyncio.timeout(limit):
            data: bytes = await awaitable
            return data
    except TimeoutError as exc:
        raise httpx.ReadTimeout("reading the answer timed out") from exc
    except asyncio.IncompleteReadError as exc:
        raise httpx.RemoteProtocolError("the server closed the connection mid-answer") from exc
    except asyncio.LimitOverrunError as exc:
        raise httpx.RemoteProtocolError("the answer's head or a chunk line is too long") from exc
    except OSError as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc


async def _read_head(
    reader: asyncio.StreamReader, limit: float | None
) -> tuple[int, bytes, list[tuple[bytes, bytes]], bool]:
    """(status, reason, headers, keep-alive) of the next final answer (1xx answers skipped)."""
    while True:
        raw = await _read(reader.readuntil(b"\r\n\r\n"), limit)
        lines = raw[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise httpx.RemoteProtocolError(f"not an HTTP/1.1 status line: {lines[0][:100]!r}")
        status = int(parts[1])
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise httpx.RemoteProtocolError(f"malformed header line: {line[:100]!r}")
            headers.append((name.strip(), value.strip()))
        if 100 <= status < 200 and status != 101:
            continue
        connection = b",".join(v for n, v in headers if n.lower() == b"connection").lower()
        keep_alive = parts[0] == b"HTTP/1.1" and b"close" not in connection
        return status, parts[2] if len(parts) > 2 else b"", headers, keep_alive


def _framing(method: str, status: int, headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """(Content-Length, chunked) of the answer's body; (None, False): until the connection closes."""
    if method == "HEAD" or status in (204, 304):
        return 0, False
    length: int | None = None
    for name, value in headers:
        lower = name.lower()
        if lower == b"transfer-encoding" and b"chunked" in value.lower():
            return None, True
        if lower == b"content-length":
            if not value.isdigit():
                raise httpx.RemoteProtocolError(f"bad Content-Length {value[:40]!r}")
            length = int(value)
    return length, False


class _BodyStream(httpx.AsyncByteStream):
    """A large or unframed body, read as the caller iterates; the connection goes back to the pool once the
    body was read to its end, and is closed if the caller stops earlier."""

    def __init__(
        self,
        transport: StreamTransport,
        key: tuple[str, str, int],
        conn: _Connection,
        length: int | None,
        chunked: bool,
        keep_alive: bool,
        timeout: float | None,
    ) -> None:
        self._transport = transport
        self._key = key
        self._conn: _Connection | None = conn
        self._length = length
        self._chunked = chunked
        self._keep_alive = keep_alive and (length is not None or chunked)
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            raise httpx.StreamClosed()
        reader = conn.reader
        try:
            if self._chunked:
                async for chunk in self._chunks(reader):
                    yield chunk
            elif self._length is not None:
                async for chunk in self._sized(reader, self._length, "mid-body"):
                    yield chunk
            else:
                while chunk := await _read(reader.read(EAGER_BYTES), self._timeout):
                    yield chunk
        except BaseException:
            await self.aclose()
            raise
        self._conn = None
        if self._keep_alive:
            self._transport._release(self._key, conn)
        else:
            conn.close()

    async def _chunks(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            line = await _read(reader.readuntil(b"\r\n"), self._timeout)
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise httpx.RemoteProtocolError(f"bad chunk size {size_text[:20]!r}") from exc
            if size == 0:
                while await _read(reader.readuntil(b"\r\n"), self._timeout) != b"\r\n":
                    pass  # trailers
                return
            async for chunk in self._sized(reader, size, "mid-chunk"):
                yield chunk
            await _read(reader.readexactly(2), self._timeout)

    async def _sized(self, reader: asyncio.StreamReader, size: int, where: str) -> AsyncIterator[bytes]:
        """`size` bytes of the body, as they come."""
        left = size
        while left:
            chunk = await _read(reader.read(min(left, EAGER_BYTES)), self._timeout)
            if not chunk:
                raise httpx.RemoteProtocolError(f"the server closed the connection {where}")
            left -= len(chunk)
            yield chunk

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
