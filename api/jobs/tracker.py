"""The job tracker: one WebSocket listener per backend drives every job's state machine.

Status is served from memory for live jobs and from the database for finished ones; never by asking ComfyUI
on each poll. On start-up, after any reconnect, and every `reconcile_interval` while jobs are live, the
tracker reconciles with ComfyUI's /queue and /history: a job that finished while nobody listened is completed
with its outputs, one ComfyUI no longer knows is failed with that reason. A watchdog interrupts jobs running
longer than `workflow_timeout` and marks them `timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from api.jobs.state import Job, JobError, JobMachine, JobStatus, OutputRef, event
from api.jobs.store import JobStore

if TYPE_CHECKING:
    from comfyui_client import ComfyClient, Event, HistoryEntry, QueueSnapshot

log = logging.getLogger(__name__)

LOST_REASON = "ComfyUI no longer knows this job (it was restarted or the job was removed from its queue)"
PERSIST_PROGRESS_EVERY = 2.0  # seconds between database writes of a running job's progress


class JobTracker:
    """Owns live jobs, their subscribers and the background tasks that keep them true."""

    def __init__(
        self,
        client: ComfyClient,
        store: JobStore,
        *,
        workflow_timeout: float,
        output_classes: set[str] | None = None,
        reconcile_interval: float = 2.0,
    ) -> None:
        self.client = client
        self.store = store
        self.workflow_timeout = workflow_timeout
        self.output_classes = output_classes or set()
        self.reconcile_interval = reconcile_interval
        self.machine = JobMachine()
        self.jobs: dict[str, Job] = {}
        self.queue: QueueSnapshot | None = None
        self.connected = False
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any] | None]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._last_persist: dict[str, float] = {}
        self._stream: Any = None
        self._reconcile_lock = asyncio.Lock()
        self._persist_lock = asyncio.Lock()
        self._queue_refresh: asyncio.Task[None] | None = None
        self._finalizing: set[str] = set()
        self._submitting: set[str] = set()  # prepared, POST /prompt not answered yet: not "lost"
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        for job in await self.store.active():
            self.jobs[job.prompt_id] = job
        self._tasks = [
            asyncio.create_task(self._listen(), name="job-tracker-listen"),
            asyncio.create_task(self._watchdog(), name="job-tracker-watchdog"),
        ]
        await self.reconcile()

    async def stop(self) -> None:
        extra = [*self._background, *([self._queue_refresh] if self._queue_refresh else [])]
        for task in [*self._tasks, *extra]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        for job in list(self.jobs.values()):
            if job.prompt_id not in self._submitting:
                await self._save(job)
        for queues in self._subscribers.values():
            for q in queues:
                q.put_nowait(None)

    # -- jobs ------------------------------------------------------------------------------------------------
    def prepare(self, job: Job) -> None:
        """Know a job before it is submitted, so events that beat the submit answer are not lost."""
        job.will_run = _will_run(job.workflow, self.output_classes)
        self.jobs[job.prompt_id] = job
        self._submitting.add(job.prompt_id)

    async def submitted(self, job: Job) -> None:
        """The service recorded the job: from now on the tracker persists it.

        Events may have moved the job on (even to its end) while the row was being written with the state of
        the moment before; write it again then.
        """
        self._submitting.discard(job.prompt_id)
        if job.status is not JobStatus.PENDING or job.progress > 0 or job.outputs:
            await self._save(job)
        if job.terminal:
            self._drop(job)
        elif self._stream is not None:
            # Tracked only once ComfyUI has it: the stream reports tracked jobs it cannot find as lost.
            self._stream.track(job.prompt_id)

    async def _save(self, job: Job) -> None:
        # One writer at a time; values are read inside the lock, so the last write holds the newest state.
        async with self._persist_lock:
            try:
                await self.store.save(job)
            except Exception:
                log.exception("could not persist job %s", job.prompt_id)

    def _drop(self, job: Job) -> None:
        self.jobs.pop(job.prompt_id, None)
        self._last_persist.pop(job.prompt_id, None)
        for q in self._subscribers.pop(job.prompt_id, set()):
            q.put_nowait(None)

    def forget(self, prompt_id: str) -> None:
        self._submitting.discard(prompt_id)
        self.jobs.pop(prompt_id, None)

    async def get(self, prompt_id: str) -> Job | None:
        job = self.jobs.get(prompt_id)
        return job if job is not None else await self.store.get(prompt_id)

    def queue_position(self, job: Job) -> int | None:
        if job.terminal:
            return None
        if self.queue is not None:
            pos = self.queue.position(job.prompt_id)
            if pos is not None:
                return pos
        return 0 if job.status is JobStatus.RUNNING else None

    async def publish(self, job: Job, events: list[dict[str, Any]]) -> None:
        """Send events to subscribers and persist what matters (every transition, progress now and then)."""
        if not events:
            return
        for ev in events:
            for q in self._subscribers.get(job.prompt_id, ()):
                q.put_nowait(ev)
        kinds = {e["event"] for e in events}
        now = time.monotonic()
        # A job still being submitted is written by the service, with this state, once ComfyUI answers.
        if job.prompt_id not in self._submitting and (
            kinds - {"progress", "node"}
            or now - self._last_persist.get(job.prompt_id, 0.0) > PERSIST_PROGRESS_EVERY
        ):
            self._last_persist[job.prompt_id] = now
            await self._save(job)
        if job.terminal and job.prompt_id not in self._submitting:
            self._drop(job)

    async def finish(
        self,
        job: Job,
        status: JobStatus,
        *,
        error: JobError | None = None,
        outputs: list[OutputRef] | None = None,
    ) -> None:
        await self.publish(job, self.machine.finish(job, status, time.time(), error=error, outputs=outputs))

    async def subscribe(self, prompt_id: str) -> AsyncIterator[dict[str, Any]]:
        """The job's events from now on (a snapshot first); ends after `finished`. Caller checks existence."""
        job = await self.get(prompt_id)
        if job is None:
            return
        if job.terminal:
            yield event(job, "finished")
            return
        q: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._subscribers.setdefault(prompt_id, set()).add(q)
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
            subs = self._subscribers.get(prompt_id)
            if subs is not None:
                subs.discard(q)
                if not subs:
                    self._subscribers.pop(prompt_id, None)

    # -- the listener ----------------------------------------------------------------------------------------
    async def _listen(self) -> None:
        while True:
            try:
                async with self.client.events() as stream:
                    self._stream = stream
                    for prompt_id in list(self.jobs):
                        if prompt_id not in self._submitting:
                            stream.track(prompt_id)
                    async for ev in stream:
                        try:
                            await self._handle(ev)
                        except Exception:
                            log.exception("job tracker could not handle %s", getattr(ev, "type", ev))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ComfyUI event stream ended; reopening")
            finally:
                self._stream = None
                self.connected = False
            await asyncio.sleep(1.0)

    async def _handle(self, ev: Event) -> None:
        kind = ev.type
        log.debug("event %s for %s", kind, ev.prompt_id)
        if kind == "status":
            self.connected = True
            self._schedule_queue_refresh()
            return
        if kind == "reconnected":
            self.connected = True
            task = asyncio.create_task(self.reconcile())  # reconcile logs its own failures
            self._background.add(task)  # keep a reference until it is done
            task.add_done_callback(self._background.discard)
            return
        if kind == "disconnected":
            self.connected = False
            return
        prompt_id = ev.prompt_id
        job = self.jobs.get(prompt_id) if prompt_id else None
        if job is None:
            return
        if kind == "job_lost":
            if prompt_id in self._submitting:
                return
            await self.finish(
                job,
                JobStatus.FAILED,
                error=JobError(message=str(getattr(ev, "reason", "") or LOST_REASON), type="job_lost"),
            )
            return
        if kind == "executing" and getattr(ev, "node", "") is None:
            await self._finalize(job)
            return
        if kind == "execution_success":
            return  # completion waits for executing(None): /history is written by then
        data = ev.model_dump(mode="json")
        await self.publish(job, self.machine.apply(job, kind, data))

    async def _finalize(self, job: Job) -> None:
        """The job ended on ComfyUI: settle it from /history (outcome and the full output list)."""
        if job.terminal or job.prompt_id in self._finalizing:
            return
        self._finalizing.add(job.prompt_id)
        try:
            entry = None
            for delay in (0.0, 0.2, 0.5, 1.0):
                await asyncio.sleep(delay)
                with contextlib.suppress(Exception):
                    entry = await self.client.history(job.prompt_id)
                if entry is not None:
                    break
            if entry is not None:
                await self.settle_from_history(job, entry)
            elif not job.terminal:
                # History unreadable right now: a success with what the events told us beats a stuck job.
                await self.finish(job, JobStatus.COMPLETED)
        finally:
            self._finalizing.discard(job.prompt_id)

    async def settle_from_history(self, job: Job, entry: HistoryEntry) -> None:
        if job.terminal:
            return
        outputs = [OutputRef.from_file(f) for f in entry.files if f.is_file]
        if entry.started_at and job.started_at is None:
            job.started_at = entry.started_at / 1000.0
        if entry.outcome == "success":
            await self.finish(job, JobStatus.COMPLETED, outputs=outputs)
        elif entry.outcome == "error":
            error = JobError.from_execution_error(entry.error or {})
            await self.finish(job, JobStatus.FAILED, outputs=outputs, error=error)
        else:
            error = JobError.from_interruption(entry.interruption or {})
            await self.finish(job, JobStatus.CANCELLED, outputs=outputs, error=error)

    # -- reconciliation and timeouts -----------------------------------------------------------------------
    async def refresh_queue(self) -> QueueSnapshot:
        self.queue = await self.client.queue()
        return self.queue

    def _schedule_queue_refresh(self) -> None:
        if self._queue_refresh is not None and not self._queue_refresh.done():
            return

        async def run() -> None:
            with contextlib.suppress(Exception):
                await self.refresh_queue()

        self._queue_refresh = asyncio.create_task(run())

    async def reconcile(self) -> None:
        """Align every live job with ComfyUI's /queue and /history; logs and returns when unreachable."""
        if not self.jobs:
            return
        async with self._reconcile_lock:
            try:
                snapshot = await self.refresh_queue()
                for job in list(self.jobs.values()):
                    if job.terminal or job.prompt_id in self._submitting:
                        continue
                    if snapshot.is_running(job.prompt_id):
                        await self.publish(job, self.machine.start(job, time.time()))
                    elif job.prompt_id in snapshot:
                        continue
                    else:
                        entry = await self.client.history(job.prompt_id)
                        if entry is not None:
                            await self.settle_from_history(job, entry)
                        elif job.prompt_id not in self._finalizing and not await self._queued_now(job):
                            await self.finish(
                                job, JobStatus.FAILED, error=JobError(message=LOST_REASON, type="job_lost")
                            )
            except Exception as exc:
                log.warning("reconciliation with ComfyUI failed (%s); will retry", exc)

    async def _queued_now(self, job: Job) -> bool:
        # A job can move from pending to history between the two reads above: look again before failing it.
        snapshot = await self.refresh_queue()
        if job.prompt_id in snapshot:
            return True
        entry = await self.client.history(job.prompt_id)
        if entry is not None:
            await self.settle_from_history(job, entry)
            return True
        return False

    async def _watchdog(self) -> None:
        last_reconcile = time.monotonic()
        while True:
            await asyncio.sleep(0.5)
            try:
                now = time.time()
                for job in list(self.jobs.values()):
                    if (
                        job.status is JobStatus.RUNNING
                        and job.started_at
                        and now - job.started_at > self.workflow_timeout
                    ):
                        await self.timeout(job)
                if self.jobs and time.monotonic() - last_reconcile >= self.reconcile_interval:
                    last_reconcile = time.monotonic()
                    await self.reconcile()
            except Exception:  # the watchdog must outlive any one bad job
                log.exception("job watchdog round failed")

    async def timeout(self, job: Job) -> None:
        log.warning("job %s ran longer than %.0f s: interrupting", job.prompt_id, self.workflow_timeout)
        try:
            await self.client.interrupt(job.prompt_id)
        except Exception as exc:  # the job still times out here; ComfyUI may go on running it
            log.warning("could not interrupt timed-out job %s on ComfyUI: %s", job.prompt_id, exc)
        await self.finish(
            job,
            JobStatus.TIMEOUT,
            error=JobError(
                message=f"the job ran longer than WORKFLOW_TIMEOUT ({self.workflow_timeout:g} s)",
                type="timeout",
                node=(job.current_node or {}).get("id"),
                node_type=(job.current_node or {}).get("class_type"),
            ),
        )


def _will_run(workflow: dict[str, Any], output_classes: set[str]) -> set[str]:
    from api.jobs.state import nodes_that_run

    return nodes_that_run(workflow, output_classes)
