"""`EventStream`: one subscriber of a client's socket hub (`comfyui_client.hub`), following tracked jobs.

The hub delivers every frame of the client's one WebSocket; the stream adds what happened to each tracked job
on ComfyUI, so that it is the one authority on a job's end (the gateway's job tracker maps its events).
An `EventStream` is an async iterator of typed events:

    async with client.events() as stream:
        stream.track(prompt_id)        # this job's end must never be missed
        async for event in stream: ...

Guarantees for tracked jobs (the EventStream contract in docs/architecture.md):
* Each tracked job ends exactly once in the stream: `ExecutingEvent(node=None)` (after its terminal event)
  or `JobLostEvent`. Then it is untracked, and later duplicates of its events are dropped.
* After a reconnect the stream yields `ReconnectedEvent`, then checks every tracked job against /queue then
  /history (in that order, so a job finishing in between is not mistaken for lost). A job found in history
  ends with synthesised events (`synthetic=True`): an `ExecutedEvent` per output node not already seen, the
  terminal event from the history messages (ExecutionSuccess/Error/Interrupted) and
  `ExecutingEvent(node=None)`. A job in neither gives `JobLostEvent(prompt_id, reason)`. Events received
  after the reconnect are held back until this resynchronisation has answered (they come after its
  findings), so this one check is the only one the delivery of events ever waits for.
* The same check runs when `track()` is called (unless the socket stayed up since the job was submitted:
  `track(id, live_since=stream.connection)` read before the submit), on the first connect, and every
  `poll_interval` seconds while tracked jobs are open (jobs deleted by someone else, a socket that cannot
  connect). It costs one GET /queue plus one GET /history/{id} per tracked job that has left the queue.
  These checks run in a background task per stream, never in the delivery loop: events keep flowing while
  an answer is slow, and the task feeds what it finds into the same ordered channel. A job such a check
  finds finished first gets `grace` seconds (0.5) for its live events, because ComfyUI writes history
  before it has sent the last ones; only if they do not come is its end synthesised.

Every event of the client id is yielded, tracked or not. A subscriber that falls `max_backlog` events behind
loses progress/progress_state/status/preview events (counted in `dropped`), never the others.

Errors: socket failures are translated by the hub into `ComfyUnavailable` (`DisconnectedEvent.error`,
`wait_connected`); iteration itself never raises them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

from comfyui_client.errors import LOST_REASON, ComfyError
from comfyui_client.events import (
    Event,
    ExecutedEvent,
    ExecutingEvent,
    ExecutionSuccessEvent,
    JobLostEvent,
    ReconnectedEvent,
    event_from_data,
)
from comfyui_client.hub import EventHub
from comfyui_client.models import HistoryEntry, QueueSnapshot

log = logging.getLogger(__name__)

#: Events a lagging subscriber may lose: later ones supersede them.
DROPPABLE = frozenset({"progress", "progress_state", "status", "preview", "progress_text", "binary"})
_DONE_MEMORY = 4096
#: Seconds a job found finished by a check (not after a reconnect) waits for its live events before its
#: end is synthesised: ComfyUI writes history before it has sent the job's last events.
GRACE = 0.5
_CHECK_CONCURRENCY = 8


class JobLookup(Protocol):
    """The HTTP reads a check needs (ComfyClient fits): the stream does not import the client."""

    async def queue(self) -> QueueSnapshot: ...

    async def history(self, prompt_id: str) -> HistoryEntry | None: ...


@dataclass
class _Job:
    executed: set[str] = field(default_factory=set)
    terminal: bool = False
    # Set when a check found the job in history while its live events may still be in flight.
    found: HistoryEntry | None = None
    grace_until: float = 0.0


class EventStream:
    """One subscriber of a client's WebSocket: `async with client.events() as stream: async for ev in stream`.

    `track(prompt_id)` marks jobs whose end must never be missed (guarantees in the module docstring).
    `wait_connected(timeout)` waits until the socket is live, i.e. ComfyUI has sent its first `status` for
    our client id (ComfyUnavailable otherwise): submit after it and no event of the job is missed. Iterate
    from one task only.
    """

    def __init__(
        self,
        hub: EventHub,
        lookup: JobLookup,
        *,
        poll_interval: float = 30.0,
        max_backlog: int = 10_000,
        grace: float = GRACE,
    ) -> None:
        self._hub = hub
        self._lookup = lookup
        self.poll_interval = poll_interval
        self.max_backlog = max_backlog
        self.grace = grace
        self.dropped = 0
        self._queue: deque[Event] = deque()
        self._ready: deque[Event] = deque()  # synthesised events, yielded before the queue
        self._wakeup = asyncio.Event()
        self._jobs: dict[str, _Job] = {}
        self._to_check: set[str] = set()  # checks whose findings wait `grace` for live events
        self._check_wakeup = asyncio.Event()  # wakes the checker: jobs to check (closing cancels it)
        self._checker: asyncio.Task[None] | None = None
        # The check after a reconnect (findings final at once); queued events wait for it.
        self._resync: asyncio.Task[None] | None = None
        self._done: OrderedDict[str, None] = OrderedDict()
        self._entered = False
        self._closed = False
        self._seen_connect = False
        self._last_poll = time.monotonic()
        self._next_grace = math.inf  # earliest grace deadline (may be early: then it is recomputed)

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def __aenter__(self) -> EventStream:
        if self._closed:
            raise RuntimeError("this EventStream is closed; open a new one with client.events()")
        if not self._entered:
            self._entered = True
            self._checker = asyncio.get_running_loop().create_task(self._check_loop(), name="comfy-ws checks")
            self._seen_connect = self._hub.subscribe(self)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wakeup.set()
        await self._stop_checks()
        if self._entered:
            await self._hub.unsubscribe(self)

    async def hub_closed(self) -> None:
        """The client is closing: end the iteration."""
        self._closed = True
        self._wakeup.set()
        await self._stop_checks()

    async def _stop_checks(self) -> None:
        tasks = [t for t in (self._checker, self._resync) if t is not None and not t.done()]
        self._checker = self._resync = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def connected(self) -> bool:
        return self._hub.connected

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109 (mirrors wait_for)
        """Return once the socket is live; ComfyUnavailable (naming the last error) after `timeout`."""
        await self._hub.wait_connected(timeout)

    # -- tracking -------------------------------------------------------------------------------------------

    @property
    def connection(self) -> int | None:
        """Which connection of the socket is live (a count of connects), None while it is down."""
        return self._hub.connects if self._hub.connected else None

    def track(self, prompt_id: str, *, live_since: int | None = None) -> None:
        """Follow `prompt_id` until its end is seen (received, or synthesised from /history) or it is lost.

        `live_since`: the `connection` that was live before the job was submitted. If it still is, every
        event of the job reaches the stream, so the job is not checked now (the periodic poll still is).
        """
        if prompt_id in self._jobs or prompt_id in self._done:
            return
        if not self._jobs:  # the periodic poll counts from the first open job
            self._last_poll = time.monotonic()
        self._jobs[prompt_id] = _Job()
        if live_since is None or live_since != self.connection:
            self._request_check([prompt_id])
        else:
            self._check_wakeup.set()  # the checker, idle without jobs, times its next poll

    def untrack(self, prompt_id: str) -> None:
        self._jobs.pop(prompt_id, None)
        self._to_check.discard(prompt_id)

    @property
    def tracked(self) -> frozenset[str]:
        """Tracked jobs whose end has not been seen yet."""
        return frozenset(self._jobs)

    # -- iteration ------------------------------------------------------------------------------------------

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        if not self._entered:
            raise RuntimeError("use `async with client.events() as stream:` before iterating")
        while True:
            if self._ready:
                return self._ready.popleft()
            if self._closed:
                raise StopAsyncIteration
            now = time.monotonic()
            if self._grace_expired(now):
                continue
            if self._queue and not self._resyncing:
                event = self._accept(self._queue.popleft())
                if event is not None:
                    return event
                continue
            await self._idle(now)

    @property
    def _resyncing(self) -> bool:
        return self._resync is not None and not self._resync.done()

    def _grace_expired(self, now: float) -> bool:
        """End jobs whose grace expired; True if that gave events to yield.

        Checked before every queued event, so a socket busy with other jobs cannot postpone them."""
        if now >= self._next_grace:
            self._next_grace = math.inf
            for pid, job in list(self._jobs.items()):
                if job.found is None:
                    continue
                if job.grace_until <= now:
                    self._ready.extend(self._synthesise(pid, job, job.found))
                    self._finish(pid)
                else:
                    self._next_grace = min(self._next_grace, job.grace_until)
        return bool(self._ready)

    async def _idle(self, now: float) -> None:
        """Wait for an event, a check's findings or the next grace expiry."""
        self._wakeup.clear()
        timeout = None if self._next_grace == math.inf else max(0.0, self._next_grace - now)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    # -- checks (background) --------------------------------------------------------------------------------

    def _request_check(self, ids: Iterable[str]) -> None:
        self._to_check.update(ids)
        self._check_wakeup.set()

    async def _check_loop(self) -> None:
        """Run requested checks and the periodic poll, off the delivery path (one check at a time)."""
        while not self._closed:
            now = time.monotonic()
            if self._jobs and now >= self._last_poll + self.poll_interval:
                self._last_poll = now
                self._to_check.update(pid for pid, job in self._jobs.items() if job.found is None)
            if self._to_check:
                ids, self._to_check = self._to_check, set()
                try:
                    await self._check(ids, final=False)
                except Exception:  # a bug must not end the checks for good; the next poll retries
                    log.exception("checking tracked jobs %s failed", sorted(ids))
                continue
            self._check_wakeup.clear()
            timeout = max(0.0, self._last_poll + self.poll_interval - now) if self._jobs else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._check_wakeup.wait(), timeout)

    def _start_resync(self) -> None:
        """Check every tracked job after a reconnect; queued events wait for its findings."""
        ids = list(self._jobs)
        if not ids:
            return
        # The barrier holds the queue, so a later ReconnectedEvent cannot be accepted while this one runs.

        async def resync() -> None:
            try:
                await self._check(ids, final=True)
            except Exception:  # held events must flow again; the next poll retries
                log.exception("resynchronising tracked jobs after a reconnect failed")
            finally:
                self._wakeup.set()

        self._resync = asyncio.get_running_loop().create_task(resync(), name="comfy-ws resync")

    # -- called by the hub ----------------------------------------------------------------------------------

    def deliver(self, event: Event) -> None:
        if len(self._queue) >= self.max_backlog and event.type in DROPPABLE:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning(
                    "event subscriber lags %d events behind; dropped %d", len(self._queue), self.dropped
                )
            return
        self._queue.append(event)
        self._wakeup.set()

    def on_connected(self, *, attempts: int, downtime: float) -> None:
        if self._seen_connect:
            # Tracked jobs are resynchronised when this event is yielded (`_accept`), so that it comes first.
            self._queue.append(ReconnectedEvent(attempts=attempts, downtime=round(downtime, 3)))
        else:
            self._request_check(self._jobs)
        self._seen_connect = True
        self._wakeup.set()

    # -- internals ------------------------------------------------------------------------------------------

    def _accept(self, event: Event) -> Event | None:
        """Update tracked-job state with a received event; None drops a duplicate of a finished job."""
        if isinstance(event, ReconnectedEvent):
            # Resynchronise before anything received after the reconnect is yielded.
            self._start_resync()
            return event
        pid = event.prompt_id
        if pid is None:
            return event
        if pid in self._done:
            return None
        job = self._jobs.get(pid)
        if job is None:
            return event
        if job.found is not None:
            job.grace_until = time.monotonic() + self.grace  # live events are flowing: let them finish
        if isinstance(event, ExecutedEvent):
            job.executed.add(event.node)
        elif event.is_terminal:
            job.terminal = True
        elif isinstance(event, ExecutingEvent) and event.is_finished:
            self._finish(pid)
        return event

    def _finish(self, prompt_id: str) -> None:
        self._jobs.pop(prompt_id, None)
        self._to_check.discard(prompt_id)
        self._done[prompt_id] = None
        while len(self._done) > _DONE_MEMORY:
            self._done.popitem(last=False)

    async def _check(self, ids: Iterable[str], *, final: bool) -> None:
        """Find out from /queue then /history whether tracked jobs ended unseen, and end them.

        `final` (after a reconnect: their live events are gone) synthesises the end at once; otherwise it
        waits `grace` seconds for live events first (a job that just ended may still have them in flight).
        Findings are applied against the state at the time of the answer (events received meanwhile win) and
        handed to the delivery loop through `_ready`.
        """
        wanted = set(ids)
        pending = [pid for pid in self._jobs if pid in wanted]  # in tracking order: deterministic output
        if not pending:
            return
        client = self._lookup
        try:
            snapshot = await client.queue()
            # Jobs move from the queue to history atomically: one absent from the snapshot has ended (or
            # is gone), so only those need a history request.
            semaphore = asyncio.Semaphore(_CHECK_CONCURRENCY)

            async def one(pid: str) -> HistoryEntry | None:
                if _queued(snapshot, pid):
                    return None
                async with semaphore:
                    return await client.history(pid)

            entries = await asyncio.gather(*(one(pid) for pid in pending))
        except ComfyError as exc:
            # ComfyUI is down or odd: the next (re)connect or poll checks again.
            log.debug("checking tracked jobs failed: %s", exc)
            return
        now = time.monotonic()
        for pid, entry in zip(pending, entries, strict=True):
            job = self._jobs.get(pid)
            if job is None:
                continue  # finished by a received event while we were asking
            if entry is not None:
                if final:
                    self._ready.extend(self._synthesise(pid, job, entry))
                    self._finish(pid)
                elif job.found is None:
                    job.found, job.grace_until = entry, now + self.grace
                    self._next_grace = min(self._next_grace, job.grace_until)
            elif not _queued(snapshot, pid):
                self._ready.append(JobLostEvent(prompt_id=pid, reason=LOST_REASON, synthetic=True))
                self._finish(pid)
        self._wakeup.set()

    @staticmethod
    def _synthesise(pid: str, job: _Job, entry: HistoryEntry) -> list[Event]:
        events: list[Event] = []
        for node_id, ui in entry.outputs.items():
            if node_id not in job.executed and isinstance(ui, dict):
                events.append(ExecutedEvent(prompt_id=pid, node=node_id, output=ui, synthetic=True))
        if not job.terminal:
            terminal = [(name, data) for name, data in entry.messages if name in Event.TERMINAL]
            if terminal:
                name, data = terminal[-1]
                events.append(event_from_data(name, {**data, "prompt_id": pid}, synthetic=True))
            elif entry.outcome == "success":
                events.append(ExecutionSuccessEvent(prompt_id=pid, synthetic=True))
            else:
                data = {"prompt_id": pid, "exception_message": entry.status_str}
                events.append(event_from_data("execution_error", data, synthetic=True))
        events.append(ExecutingEvent(prompt_id=pid, node=None, synthetic=True))
        return events


def _queued(snapshot: QueueSnapshot, prompt_id: str) -> bool:
    return prompt_id in snapshot
