"""A loopback TCP proxy between the gateway and ComfyUI, for fault tests: it can hold back POST /prompt
requests (a ComfyUI slower than the client's timeout, or a request stuck in the network) and cut every open
connection at once (the WebSocket dropped mid-job)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit


class TcpProxy:
    def __init__(self, upstream: str, *, prompt_delay: float = 0.0) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prompt_delay = prompt_delay  # seconds each POST /prompt is held before it goes on
        self.prompts_held = 0
        self.prompts_forwarded = 0
        self.refusing = False  # new connections are cut at once (ComfyUI unreachable)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_all()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def drop_all(self) -> None:
        """Cut every open connection (both sides), as a network failure would."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update({writer, up_writer})
        for coro in (self._pump(reader, up_writer, hold=True), self._pump(up_reader, writer, hold=False)):
            task = asyncio.create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, hold: bool) -> None:
        try:
            while data := await reader.read(65536):
                if hold and self.prompt_delay and data.startswith(b"POST /prompt"):
                    self.prompts_held += 1
                    await asyncio.sleep(self.prompt_delay)  # goes on even if the client gave up meanwhile
                writer.write(data)
                if hold and data.startswith(b"POST /prompt"):
                    self.prompts_forwarded += 1
                await writer.drain()
            if hold:
                await asyncio.sleep(2.0)  # the client left: a request already sent still gets served
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()
            self._writers.discard(writer)


@contextlib.asynccontextmanager
async def tcp_proxy(upstream: str, *, prompt_delay: float = 0.0) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(upstream, prompt_delay=prompt_delay)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
