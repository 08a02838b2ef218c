"""How job events travel: to this process's subscribers, and to the other gateway replicas.

`Subscribers` is the local fan-out (SSE and WebSocket clients of this process, one queue each). An `EventBus`
carries job messages (plain JSON dicts, see `api.jobs.replica`) between replicas: `InProcessBus` is the
default (one process: there is nobody else to tell, so publishing costs nothing; several trackers in one
process may share one for tests), `RedisBus` uses Redis pub/sub (`REDIS_URL`). Pub/sub delivers at most
once: a replica that was disconnected from Redis misses messages, so replicas also re-read the database now
and then (`api.jobs.replica`); the bus only makes updates arrive at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from api.jobs.state import Job, JobStatus, event

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
REDIS_TIMEOUT = 2.0  # seconds one Redis request may take (publish, lease renewal)
OUTBOX_LIMIT = 10_000  # job messages waiting for Redis; the oldest are dropped past it
Queue = asyncio.Queue[dict[str, Any] | None]
Queues = set[Queue]  # the queues of one job's subscribers


class Subscribers:
    """This process's subscribers of each job: a queue per subscriber, `None` ends it."""

    def __init__(self) -> None:
        self._queues: dict[str, Queues] = {}

    def add(self, prompt_id: str) -> Queue:
        q: Queue = asyncio.Queue()
        self._queues.setdefault(prompt_id, set()).add(q)
        return q

    def remove(self, prompt_id: str, q: Queue) -> None:
        subs = self._queues.get(prompt_id)
        if subs is not None:
            subs.discard(q)
            if not subs:
                self._queues.pop(prompt_id, None)

    def deliver(self, prompt_id: str, events: list[dict[str, Any]]) -> None:
        for ev in events:
            for q in self._queues.get(prompt_id, ()):
                q.put_nowait(ev)

    async def follow(
        self, prompt_id: str, find: Callable[[str], Awaitable[Job | None]]
    ) -> AsyncIterator[dict[str, Any]]:
        """The job's public events from now on, a snapshot of where it is first (`find` reads it; nothing
        for an unknown job); ends after `finished`."""
        job = await find(prompt_id)
        if job is None:
            return
        if job.terminal:
            yield event(job, "finished")
            return
        q = self.add(job.prompt_id)
        try:
            yield event(job, "queued")
            if job.status is JobStatus.RUNNING:
                yield event(job, "started")
                if job.progress > 0:
                    yield event(job, "progress")
            while True:
                item = await q.get()
                if item is None:
                    return
                yield item
                if item["event"] == "finished":
                    return
        finally:
            self.remove(job.prompt_id, q)

    def take(self, prompt_id: str) -> Queues:
        """A job's subscribers, taken away (they follow the job to another tracker, or wait with it)."""
        return self._queues.pop(prompt_id, set())

    def join(self, prompt_id: str, queues: Queues) -> None:
        if queues:
            self._queues.setdefault(prompt_id, set()).update(queues)

    def close(self, prompt_id: str) -> None:
        for q in self._queues.pop(prompt_id, set()):
            q.put_nowait(None)

    def close_all(self) -> None:
        for prompt_id in list(self._queues):
            self.close(prompt_id)


def redis_client(url: str) -> Any:
    """A redis.asyncio client for requests (not for a subscriber): each times out after REDIS_TIMEOUT."""
    from redis.asyncio import Redis

    return Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)


class EventBus(Protocol):
    """Job messages between replicas; a replica never receives its own messages."""

    async def start(self, handler: Handler) -> None: ...

    async def publish(self, message: dict[str, Any]) -> None: ...

    async def stop(self) -> None: ...


class InProcessBus:
    """Replicas inside one process (the default has none but itself: publishing is a no-op). Each bus
    delivers to its handler in order, from a task of its own, so a publisher never runs a peer's code."""

    def __init__(self, peers: list[InProcessBus] | None = None) -> None:
        self.peers = peers if peers is not None else []
        self.peers.append(self)
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self, handler: Handler) -> None:
        self._task = asyncio.create_task(_drain(self._inbox, handler), name="in-process-bus")

    async def publish(self, message: dict[str, Any]) -> None:
        for peer in self.peers:
            if peer is not self and peer._task is not None:
                peer._inbox.put_nowait(message)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def _drain(inbox: asyncio.Queue[dict[str, Any]], handler: Handler) -> None:
    while True:
        await _apply(handler, await inbox.get())


async def _apply(handler: Handler, message: dict[str, Any]) -> None:
    try:
        await handler(message)
    except Exception:  # one bad message must not stop the others
        log.exception("could not apply a job message from another replica")


class RedisBus:
    """Redis pub/sub on one channel per deployment; messages carry `origin` so a replica skips its own.

    `publish` only queues (the tracker never waits on Redis); one sender task publishes in order, and
    drops the oldest messages past `OUTBOX_LIMIT` while Redis is unreachable. A lost subscriber connection
    is reopened (with backoff). Messages lost either way are made up for from the database by the
    replicas (`api.jobs.replica`).
    """

    def __init__(
        self,
        url: str,
        channel: str,
        origin: str,
        *,
        redis: Any = None,
    ) -> None:
        from redis.asyncio import Redis

        # Publishing must never stall the tracker (a socket timeout); the subscriber waits for messages as
        # long as it takes, on a connection of its own.
        self.redis = redis if redis is not None else redis_client(url)
        self._listener: Any = Redis.from_url(url, client_name=f"comfy-gateway-bus:{origin}")
        self.channel = channel
        self.origin = origin
        self._tasks: list[asyncio.Task[None]] = []
        self._tried = asyncio.Event()  # the first subscription was made, or failed
        self._outbox: asyncio.Queue[str] = asyncio.Queue()

    async def start(self, handler: Handler) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(handler), name=f"redis-bus-listen:{self.channel}"),
            asyncio.create_task(self._send(), name=f"redis-bus-send:{self.channel}"),
        ]
        with contextlib.suppress(TimeoutError):  # Redis down or slow at start: the listener keeps trying
            async with asyncio.timeout(5.0):
                await self._tried.wait()

    async def publish(self, message: dict[str, Any]) -> None:
        if self._outbox.qsize() >= OUTBOX_LIMIT:
            self._outbox.get_nowait()
            self._outbox.task_done()
            log.warning("Redis bus %s: outbox full, the oldest job message is dropped", self.channel)
        self._outbox.put_nowait(json.dumps({**message, "origin": self.origin}))

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):  # what a clean shutdown changed still goes out
            async with asyncio.timeout(REDIS_TIMEOUT):
                if self._tasks:
                    await self._outbox.join()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.redis.aclose()
        await self._listener.aclose()

    async def _send(self) -> None:
        from redis.exceptions import RedisError

        failing = False  # one warning per outage, not one per message
        while True:
            data = await self._outbox.get()
            try:
                await self.redis.publish(self.channel, data)
                if failing:
                    failing = False
                    log.warning("Redis bus %s: publishing again", self.channel)
            except (RedisError, OSError) as exc:  # the others catch up from the database
                if not failing:
                    log.warning(
                        "Redis bus %s: job messages are dropped until Redis answers: %s", self.channel, exc
                    )
                failing = True
            finally:
                self._outbox.task_done()

    async def _listen(self, handler: Handler) -> None:
        from redis.exceptions import RedisError

        delay = 0.2
        while True:
            pubsub = self._listener.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._tried.set()
                delay = 0.2
                async for raw in pubsub.listen():
                    await self._dispatch(raw, handler)
            except (RedisError, OSError) as exc:
                self._tried.set()
                log.warning("Redis bus %s disconnected (%s); reconnecting", self.channel, exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _dispatch(self, raw: dict[str, Any], handler: Handler) -> None:
        if raw.get("type") != "message":
            return
        try:
            message = json.loads(raw["data"])
        except (TypeError, ValueError):
            log.warning("ignoring a malformed job message on %s", self.channel)
            return
        if isinstance(message, dict) and message.get("origin") != self.origin:
            await _apply(handler, message)
