"""The socket hub: the one reconnecting ComfyUI WebSocket of a client, fanned out to its subscribers.

ComfyUI keeps ONE socket per client id (a second connection with the same id silently steals the events), so a
`ComfyClient` owns one `EventHub`: a background task holding the WebSocket
`ws://host/ws?clientId=<client_id>`, parsing every frame (`events.parse_event`) and handing it to every
subscriber (`Subscriber`; `comfyui_client.stream.EventStream` is the one the client makes). The hub connects
when the first subscriber comes and disconnects when the last one leaves. When the connection drops it
reconnects forever with exponential backoff (first delay, doubling up to the max delay, +-20 % jitter).

Errors: connect and receive failures (OSError, timeouts, websockets errors) are translated once in
`_describe_ws_error` into a `ComfyUnavailable` that subscribers see (`DisconnectedEvent.error`,
`wait_connected`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import websockets
from websockets.asyncio.client import connect as ws_client_connect

from comfyui_client.errors import ComfyUnavailable
from comfyui_client.events import DisconnectedEvent, Event, StatusEvent, parse_event

log = logging.getLogger(__name__)


class Subscriber(Protocol):
    """What the hub hands events to (EventStream); called from the hub's task, so never blocking."""

    def deliver(self, event: Event) -> None: ...

    def on_connected(self, *, attempts: int, downtime: float) -> None: ...

    async def hub_closed(self) -> None: ...


class WsConnection(Protocol):
    """What the stream needs from a WebSocket connection (websockets' ClientConnection fits)."""

    async def recv(self) -> str | bytes: ...

    async def close(self) -> None: ...


#: `await ws_connect(url)` opens a connection; injectable for tests (a fake replaying captures).
WsConnect = Callable[[str], Awaitable[WsConnection]]


def default_ws_connect(*, open_timeout: float = 10.0, max_size: int = 64 * 2**20) -> WsConnect:
    """The real connect: websockets with keepalive pings (a dead peer is noticed within ~40 s)."""

    async def connect(url: str) -> WsConnection:
        conn = await ws_client_connect(
            url,
            open_timeout=open_timeout,
            max_size=max_size,
            max_queue=1024,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
        )
        return conn

    return connect


def _describe_ws_error(url: str, exc: BaseException) -> ComfyUnavailable:
    """The seam translating WebSocket/OS errors into the client's error tree."""
    if isinstance(exc, websockets.exceptions.ConnectionClosed):
        reason = f"connection closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
    elif isinstance(exc, websockets.exceptions.InvalidStatus):
        reason = f"handshake refused with HTTP {exc.response.status_code}"
    elif isinstance(exc, TimeoutError):
        reason = "timed out"
    else:
        text = str(exc).strip()
        reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    error = ComfyUnavailable(f"ComfyUI WebSocket at {url}: {reason}", url=url)
    error.__cause__ = exc
    return error


class EventHub:
    """Owns the one WebSocket of a client and fans its events out to subscribers (use `client.events()`)."""

    def __init__(
        self,
        client_id: str,
        url: str,
        connect: WsConnect,
        *,
        backoff: tuple[float, float] = (0.25, 5.0),
        ready_timeout: float = 10.0,
    ) -> None:
        first, cap = backoff
        if first <= 0 or cap < first:
            raise ValueError(f"reconnect_backoff must be (first > 0, max >= first), got {backoff}")
        self.client_id = client_id
        self.url = url
        self._connect = connect
        self._backoff = (first, cap)
        self._ready_timeout = ready_timeout
        self._subs: list[Subscriber] = []
        self._task: asyncio.Task[None] | None = None
        self._conn: WsConnection | None = None
        self._connected = asyncio.Event()
        self.last_error: ComfyUnavailable | None = None
        self.connects = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def subscribe(self, sub: Subscriber) -> bool:
        """Add a subscriber (the socket opens with the first); True if the socket is live already."""
        self._subs.append(sub)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"comfy-ws {self.url}")
        return self.connected

    async def unsubscribe(self, sub: Subscriber) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        if not self._subs:
            await self.aclose()

    async def shutdown(self) -> None:
        """Close the socket and end every subscriber's iteration (the client is closing)."""
        subs, self._subs = list(self._subs), []
        for sub in subs:
            await sub.hub_closed()
        await self.aclose()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_conn()

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109 (mirrors wait_for)
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError as exc:
            last = f": {self.last_error.message}" if self.last_error else ""
            raise ComfyUnavailable(
                f"no WebSocket connection to {self.url} within {timeout:g} s{last}", url=self.url
            ) from exc

    async def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        self._connected.clear()
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def _run(self) -> None:
        attempts = 0
        down_since: float | None = None
        while True:
            try:
                self._conn = await self._connect(self.url)
                # ComfyUI registers the socket under our client id just before it sends the first `status`;
                # a job submitted before that loses its events, so the socket is live only once it is in.
                async with asyncio.timeout(self._ready_timeout):
                    first = await self._conn.recv()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every connect failure is retried; the seam describes it
                attempts += 1
                self._note_error(exc, connected=False)
                await self._close_conn()
                await asyncio.sleep(self._delay(attempts))
                continue
            self.connects += 1
            self._connected.set()
            downtime = time.monotonic() - down_since if down_since is not None else 0.0
            log.debug("connected to %s after %d failed attempt(s)", self.url, attempts)
            for sub in list(self._subs):
                sub.on_connected(attempts=attempts + 1, downtime=downtime)
            attempts = 0
            hello = parse_event(first)
            if isinstance(hello, StatusEvent) and hello.sid and hello.sid != self.client_id:
                log.warning("ComfyUI at %s assigned sid %s instead of our client id", self.url, hello.sid)
            self._dispatch(hello)
            try:
                await self._pump(self._conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._note_error(exc, connected=True)
            down_since = time.monotonic()
            await self._close_conn()
            await asyncio.sleep(self._delay(1))

    def _dispatch(self, event: Event) -> None:
        for sub in list(self._subs):
            sub.deliver(event)

    async def _pump(self, conn: WsConnection) -> None:
        while True:
            self._dispatch(parse_event(await conn.recv()))

    def _note_error(self, exc: Exception, *, connected: bool) -> None:
        error = _describe_ws_error(self.url, exc)
        self.last_error = error
        if connected:
            log.warning("%s; reconnecting", error.message)
            for sub in list(self._subs):
                sub.deliver(DisconnectedEvent(error=error.message))
        else:
            log.debug("%s; retrying", error.message)

    def _delay(self, attempt: int) -> float:
        first, cap = self._backoff
        delay: float = min(cap, first * 2.0 ** max(0, attempt - 1))
        return delay * random.uniform(0.8, 1.2)
