"""The job tracker: maps the client's event stream onto every job's state machine.

What happened to a job on ComfyUI is the stream's verdict (`comfyui_client.EventStream`): it resynchronises
tracked jobs after a reconnect, checks them every `reconcile_interval` while the socket stays up, ends each
exactly once (its events, synthesised from /history when they were missed) or reports it lost
(`JobLostEvent`). The tracker keeps only what is its own: the jobs in memory and their subscribers, the queue
(`live_state.QueueView`: /queue snapshots kept current by the job events), the watchdog that interrupts jobs
running longer than `workflow_timeout`, and persistence. Status is served from memory for live jobs and the
`recent_limit` last finished ones, from the database for older ones; never by asking ComfyUI on each poll.

Persistence: a failed write is retried (bounded, with backoff), then logged as an error; the job then stays
in memory (served from there) and the watchdog writes it again until the database takes it. A job leaves
memory only once its final state is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from api.jobs import cancel, settle
from api.jobs.bus import Queues, Subscribers
from api.jobs.live_state import QueueView, RecentJobs
from api.jobs.state import Job, JobError, JobMachine, JobStatus, nodes_that_run
from api.jobs.store import JobStore, JobStoreError
from api.logs import bind_job
from comfyui_client import ComfyError, ExecutingEvent, JobLostEvent, OutputRef, StatusEvent

if TYPE_CHECKING:
    from api.jobs.replica import Replication
    from comfyui_client import ComfyClient, Event, EventStream, HistoryEntry, QueueSnapshot

log = logging.getLogger(__name__)

PERSIST_PROGRESS_EVERY = 2.0  # seconds between database writes of a running job's progress
SAVE_RETRY_DELAYS = (0.1, 0.5)  # seconds before the 2nd and 3rd attempt of one write
# A `status` event the view cannot explain re-reads /queue at most this often (s): under a stream of short
# jobs the events lag ComfyUI's answers, and a read per job cost both processes more than a submit (issue 13).
QUEUE_REFRESH_GAP = 0.25
WITHDRAW_GUARD_SECONDS = 3600.0  # how long a job reported "not submitted" is withdrawn should it still arrive


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
        recent_limit: int = 1000,
        backend: str | None = None,
        owns: Callable[[Job], bool] | None = None,
    ) -> None:
        self.client = client
        self.backend = backend  # the fleet backend this tracker follows (api.fleet); jobs record it
        self._owns = owns  # which active jobs of the database are this tracker's at start (None: all)
        self.store = store
        self.workflow_timeout = workflow_timeout
        self.output_classes = output_classes or set()
        self.reconcile_interval = reconcile_interval
        self.machine = JobMachine()
        self.jobs: dict[str, Job] = {}
        self.recent = RecentJobs(recent_limit)  # finished and written: status reads skip the database
        self.queue_view = QueueView()
        self.connected = False
        # This process's SSE/WebSocket clients; a fleet's trackers share one (a moved job keeps them).
        self.subscribers = Subscribers()
        self.replica: Replication | None = None  # set when several replicas share the work (REDIS_URL)
        self._tasks: list[asyncio.Task[None]] = []
        self._last_persist: dict[str, float] = {}
        self._stream: EventStream | None = None
        self._queue_refresh: asyncio.Task[None] | None = None
        self.finalizing: set[str] = set()  # reading a finished job's history (settle.finalize)
        # Prepared, POST /prompt not answered yet (not tracked), with the stream's connection live then
        self._submitting: dict[str, int | None] = {}
        self._unsaved: set[str] = set()  # the last write failed: kept in memory, written again later
        # Called once per job as it reaches a terminal state (webhooks, quotas, metrics); must not block.
        self.terminal_hooks: list[Callable[[Job], None]] = []
        # Called on the other replicas as a job another one ended reaches them (per-replica bookkeeping).
        self.replica_hooks: list[Callable[[Job], None]] = []
        # Reported not submitted (or moved to another backend): withdrawn if ComfyUI gets it (expiry).
        self.withdrawals: dict[str, float] = {}

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.replica is not None:
            await self.replica.start()
        for job in await self.store.active():
            if self.owns(job):
                self.jobs[job.prompt_id] = job
        # The stream checks every job it is given on its first connect: ones that ended while the gateway was
        # down are settled from /history, ones ComfyUI forgot are reported lost.
        self._tasks = [
            asyncio.create_task(self._listen(), name="job-tracker-listen"),
            asyncio.create_task(self._watchdog(), name="job-tracker-watchdog"),
        ]

    async def stop(self) -> None:
        for task in [*self._tasks, *([self._queue_refresh] if self._queue_refresh else [])]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        for job in [j for j in self.jobs.values() if j.prompt_id not in self._submitting]:
            if self.leading or job.prompt_id in self._unsaved:  # others' copies are written by the leader
                await self.save(job)
        self.subscribers.close_all()
        if self.replica is not None:
            await self.replica.stop()

    def owns(self, job: Job) -> bool:
        """Whether an unfinished row of the database is this tracker's to follow (api.fleet.owner_rule)."""
        return self._owns is None or self._owns(job)

    # -- jobs ------------------------------------------------------------------------------------------------
    def prepare(self, job: Job) -> None:
        """Know a job before it is submitted, so events that beat the submit answer are not lost."""
        job.backend = self.backend
        job.will_run = nodes_that_run(job.workflow, self.output_classes)
        self.jobs[job.prompt_id] = job
        self._submitting[job.prompt_id] = self._stream.connection if self._stream is not None else None

    async def submitted(self, job: Job, entry: HistoryEntry | None = None, *, behind: bool = False) -> None:
        """ComfyUI has the job (it answered POST /prompt, or /queue or /history shows it): from now on the
        tracker follows and persists it. `entry`: ComfyUI already finished it. `behind`: an unfinished job's
        row is written without waiting (`JobStore.save_behind`).

        The row was written `submitting` before the POST; events may have moved the job on (even to its end)
        meanwhile: the row is written again with what is known now.
        """
        live_since = self._submitting.pop(job.prompt_id, None)
        if job.status is JobStatus.SUBMITTING:
            job.status = JobStatus.PENDING
        if not job.terminal and entry is None:
            self.queue_view.pending(job.prompt_id, job.number)
            if self._stream is not None:  # before the write (which the submit answer may not wait for)
                # Tracked only once ComfyUI has it: the stream reports tracked jobs it cannot find as lost.
                self._stream.track(job.prompt_id, live_since=live_since)
        if behind and not job.terminal and entry is None:
            saved = True
            self.store.save_behind(job)
        else:
            saved = await self.save(job)
        if self.replica is not None:
            await self.replica.share(job, [])  # the leader follows it from now on
        if entry is not None:
            await settle.settle_from_history(self, job, entry)
        elif job.terminal and saved:
            self.drop(job)

    async def save(self, job: Job) -> bool:
        """Write the job, retrying a failed write; False (logged as an error) if it never went through.

        The store's one writer reads the values as it commits (api.jobs.group_commit), so the last write
        holds the newest state; concurrent saves share a transaction.
        """
        failure: JobStoreError | None = None
        for attempt, delay in enumerate((0.0, *SAVE_RETRY_DELAYS), start=1):
            await asyncio.sleep(delay)
            try:
                await self.store.save(job)
            except JobStoreError as exc:
                failure = exc
                log.warning("writing job %s failed (attempt %d): %s", job.prompt_id, attempt, exc)
                continue
            self._unsaved.discard(job.prompt_id)
            return True
        log.error(
            "could not persist job %s (%s); it stays in memory and is written again later",
            job.prompt_id,
            failure,
        )
        self._unsaved.add(job.prompt_id)
        return False

    async def _save_unsaved(self) -> None:
        """Write again every job whose last write failed; a finished one leaves memory once written."""
        for prompt_id in list(self._unsaved):
            job = self.jobs.get(prompt_id)
            if job is None:
                self._unsaved.discard(prompt_id)
            elif await self.save(job) and job.terminal:
                self.drop(job)

    def drop(self, job: Job) -> None:
        """Forget a finished job whose final state is written (from now on it is read from the database)."""
        self.jobs.pop(job.prompt_id, None)
        self.recent.add(job)
        self._last_persist.pop(job.prompt_id, None)
        self.subscribers.close(job.prompt_id)

    def forget(self, prompt_id: str) -> None:
        """Take back a prepared job that was never submitted (refused, or recorded nowhere)."""
        self._submitting.pop(prompt_id, None)
        self.jobs.pop(prompt_id, None)

    def is_submitting(self, prompt_id: str) -> bool:
        """POST /prompt for this job is on its way (prepared, not answered yet)."""
        return prompt_id in self._submitting

    def release(self, prompt_id: str) -> tuple[Job, Queues] | None:
        """Hand a live job over to another tracker (api.fleet moves it to another backend): it is no longer
        followed here; its subscribers go with it. None when the job is not live here."""
        job = self.let_go(prompt_id)
        return None if job is None else (job, self.take_subscribers(prompt_id))

    def let_go(self, prompt_id: str) -> Job | None:
        """Stop following a live job without writing it (it moved to another backend)."""
        job = self.jobs.pop(prompt_id, None)
        self._submitting.pop(prompt_id, None)
        self._last_persist.pop(prompt_id, None)
        self.queue_view.ended(prompt_id)
        if self._stream is not None:
            self._stream.untrack(prompt_id)
        return job

    def take_subscribers(self, prompt_id: str) -> Queues:
        return self.subscribers.take(prompt_id)

    def adopt(self, job: Job, subscribers: Queues, *, submitting: bool = True) -> None:
        """Take over a job released by another tracker: to submit it here (then `submitted`), or
        (`submitting=False`) to end it here."""
        self.withdrawals.pop(job.prompt_id, None)  # ours now, whatever an earlier attempt left
        if submitting:
            self.prepare(job)
        else:
            self.jobs[job.prompt_id] = job
        self.subscribers.join(job.prompt_id, subscribers)

    def unconfirmed(self, job: Job) -> None:
        """The submission's fate is unknown (ComfyUI could not be asked): the job stays `submitting` and
        `resolve_submitting` settles it from ComfyUI's /queue and /history once it answers."""
        self._submitting.pop(job.prompt_id, None)

    async def not_submitted(self, job: Job, why: str) -> None:
        """ComfyUI answered and does not have the job: it failed to submit. Should the lost request still
        arrive, the job is withdrawn from ComfyUI, so a retry never makes it run twice."""
        self._submitting.pop(job.prompt_id, None)
        self.guard(job.prompt_id)
        await self.finish(job, JobStatus.FAILED, error=JobError(message=why, type="not_submitted"))

    def guard(self, prompt_id: str) -> None:
        """Withdraw this job from ComfyUI if it ever shows up there (queued or started)."""
        self.withdrawals[prompt_id] = time.monotonic() + WITHDRAW_GUARD_SECONDS

    async def _withdraw_arrived(self, prompt_id: str) -> None:
        log.warning("job %s reached ComfyUI after it was reported not submitted: withdrawing it", prompt_id)
        try:
            await self.client.delete_pending(prompt_id)
            await self.client.interrupt(prompt_id)
        except ComfyError as exc:  # asked again on its next event or queue refresh
            log.warning("could not withdraw job %s: %s", prompt_id, exc)
            return
        self.withdrawals.pop(prompt_id, None)

    @property
    def active_count(self) -> int:
        """Jobs not finished yet (prepared, pending or running)."""
        return sum(1 for job in self.jobs.values() if not job.terminal)

    @property
    def queue(self) -> QueueSnapshot | None:  # the last /queue, kept current by the events
        return self.queue_view.snapshot

    def cached(self, prompt_id: str) -> Job | None:  # memory only: live, or finished recently
        return self.jobs.get(prompt_id) or self.recent.get(prompt_id)

    async def get(self, prompt_id: str) -> Job | None:
        job = self.cached(prompt_id)
        if job is None and (job := await self.store.get(prompt_id)) is not None:
            job = self.keep(job)
        return job

    def keep(self, job: Job) -> Job:
        """A job just read from the database: a finished one stays in memory for the next reads (it never
        changes); a live one of another replica is held, the bus keeps it current."""
        if job.terminal:
            self.recent.add(job)
        elif self.replica is not None and self.owns(job):
            return self.replica.hold(job)
        return job

    @property
    def leading(self) -> bool:
        """This gateway follows the backend's event stream (unless another replica holds the lease)."""
        return self.replica is None or self.replica.leading

    def queue_position(self, job: Job) -> int | None:
        return self.queue_view.position(job)

    async def publish(self, job: Job, events: list[dict[str, Any]]) -> None:
        """Send events to subscribers and persist what matters (every transition, progress now and then)."""
        if not events:
            return
        self.subscribers.deliver(job.prompt_id, events)
        kinds = {e["event"] for e in events}
        if "started" in kinds:
            self.queue_view.running(job.prompt_id)
        if "finished" in kinds:
            self.queue_view.ended(job.prompt_id)
            self._run_terminal_hooks(job)
        now = time.monotonic()
        saved = True
        # A job still being submitted is written by the service, with this state, once ComfyUI answers.
        if job.prompt_id not in self._submitting and (
            kinds - {"progress", "node"}
            or now - self._last_persist.get(job.prompt_id, 0.0) > PERSIST_PROGRESS_EVERY
        ):
            self._last_persist[job.prompt_id] = now
            if self.replica is None and not job.terminal:
                self.store.save_behind(job)  # its end (or next write) overwrites it: not waited for
            else:
                saved = await self.save(job)
        if self.replica is not None:  # after the write: a replica reading the database agrees
            await self.replica.share(job, events)
        if job.terminal and job.prompt_id not in self._submitting:
            if self._stream is not None:
                self._stream.untrack(job.prompt_id)  # ended here (cancel, timeout): nothing more to learn
            if saved:
                self.drop(job)

    def _run_terminal_hooks(self, job: Job) -> None:
        for hook in self.terminal_hooks:
            try:
                hook(job)
            except Exception:  # a hook's bug must never stop a job from finishing
                log.exception("terminal hook %r failed for job %s", hook, job.prompt_id)

    async def finish(
        self,
        job: Job,
        status: JobStatus,
        *,
        error: JobError | None = None,
        outputs: list[OutputRef] | None = None,
    ) -> None:
        await self.publish(job, self.machine.finish(job, status, time.time(), error=error, outputs=outputs))

    def subscribe(self, prompt_id: str) -> AsyncIterator[dict[str, Any]]:
        """The job's events from now on (a snapshot first); ends after `finished`. Caller checks existence."""
        return self.subscribers.follow(prompt_id, self.get)

    # -- the listener ----------------------------------------------------------------------------------------
    async def _listen(self) -> None:
        if self.replica is not None:
            await self.replica.follow(self._follow_stream)  # only while this replica holds the lease
        else:
            await self._follow_stream()

    async def _follow_stream(self) -> None:
        while True:
            try:
                async with self.client.events(poll_interval=self.reconcile_interval) as stream:
                    self._stream = stream
                    for prompt_id, job in list(self.jobs.items()):
                        # A `submitting` job ComfyUI may not have: the stream would call it lost.
                        submitting = prompt_id in self._submitting or job.status is JobStatus.SUBMITTING
                        if not submitting and not job.terminal:
                            stream.track(prompt_id)
                    async for ev in stream:
                        try:
                            await self.handle(ev)
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

    @property
    def stream(self) -> EventStream | None:
        """The event stream the tracker follows (None while it is being reopened)."""
        return self._stream

    async def handle(self, ev: Event) -> None:
        """Apply one event of the stream to the job it names (the listener calls this for every event)."""
        kind = ev.type
        log.debug("event %s for %s", kind, ev.prompt_id)
        if kind in ("status", "reconnected"):
            # After a reconnect the stream resynchronises the jobs itself; positions are ours to refresh.
            self.connected = True
            counted = isinstance(ev, StatusEvent) and self.queue_view.accounts_for(
                ev.queue_remaining, in_flight=len(self._submitting), ours=self.jobs
            )
            if not counted:
                self.schedule_queue_refresh()
            return
        if kind == "disconnected":
            self.connected = False
            return
        prompt_id = ev.prompt_id
        job = self.jobs.get(prompt_id) if prompt_id else None
        if self.replica is not None:  # a job submitted through another replica, or ended by one
            job = await self.replica.job_of(ev, job)
        if job is None:
            if prompt_id in self.withdrawals:
                await self._withdraw_arrived(prompt_id)
            return
        bind_job(prompt_id)
        if isinstance(ev, JobLostEvent):
            await self.finish(job, JobStatus.FAILED, error=JobError(message=ev.reason, type="job_lost"))
            return
        if isinstance(ev, ExecutingEvent) and ev.is_finished:
            await settle.finalize(self, job)
            return
        if kind == "execution_success":
            return  # completion waits for executing(None): /history is written by then
        if kind == "execution_interrupted" and job.end_requested is not None:
            # Our own interrupt (a timeout or a cancel), confirmed: the end we asked for, with its reason.
            await self.finish(job, job.end_requested, error=job.end_reason)
            return
        data = ev.model_dump(mode="json")
        unconfirmed = job.status is JobStatus.SUBMITTING and prompt_id not in self._submitting
        await self.publish(job, self.machine.apply(job, kind, data))
        if unconfirmed and job.status is not JobStatus.SUBMITTING and not job.terminal and self._stream:
            self._stream.track(job.prompt_id)  # its events prove ComfyUI has it: follow it from now on

    # -- queue positions and timeouts ---------------------------------------------------------------------
    async def refresh_queue(self) -> QueueSnapshot:
        """A fresh /queue snapshot (positions); a pending job ComfyUI already runs is marked running."""
        asked_at = time.monotonic()
        try:
            snapshot = await self.client.queue()
        except ComfyError:
            self.queue_view.invalidate()
            raise
        self.queue_view.replace(snapshot, asked_at)
        for prompt_id in [p for p in self.withdrawals if p in snapshot]:
            await self._withdraw_arrived(prompt_id)
        for job in list(self.jobs.values()) if self.leading else []:  # others' copies follow the leader
            if job.status is JobStatus.SUBMITTING and job.prompt_id not in self._submitting:
                if job.prompt_id in snapshot:
                    await self.submitted(job)  # ComfyUI has it after all
                continue
            if snapshot.is_running(job.prompt_id) and job.prompt_id not in self._submitting:
                await self.publish(job, self.machine.start(job, time.time()))
        return snapshot

    def schedule_queue_refresh(self) -> None:
        if self._queue_refresh is not None and not self._queue_refresh.done():
            return
        self._queue_refresh = asyncio.create_task(self._refresh_queue_quietly(QUEUE_REFRESH_GAP))

    async def _refresh_queue_quietly(self, gap: float = 0.0) -> None:
        try:
            await asyncio.sleep(max(0.0, self.queue_view.taken_at + gap - time.monotonic()))
            await self.refresh_queue()
        except ComfyError as exc:  # positions wait for the next refresh
            log.debug("could not refresh the queue: %s", exc)

    async def _watchdog(self) -> None:
        last_refresh = time.monotonic()
        try:  # rows a crashed gateway left `submitting`, settled at once
            await settle.resolve_submitting(self)
        except Exception:
            log.exception("could not settle the jobs left submitting")
        while True:
            await asyncio.sleep(0.5)
            try:
                now = time.time()
                for job in list(self.jobs.values()) if self.leading else []:
                    if (
                        job.status is JobStatus.RUNNING
                        and job.end_requested is None  # asked already: ask_again repeats it
                        and job.started_at
                        and now - job.started_at > self.workflow_timeout
                    ):
                        await cancel.time_out(self, job)  # `timeout` once ComfyUI confirms it
                due = time.monotonic() - last_refresh >= self.reconcile_interval
                if (self.jobs or self.withdrawals) and due:
                    last_refresh = time.monotonic()
                    await self._save_unsaved()
                    if self.replica is not None:
                        await self.replica.resync()  # copies of jobs another replica follows
                    await settle.resolve_submitting(self)
                    await cancel.ask_again(self)  # ends asked for that ComfyUI has not confirmed
                    await self._refresh_queue_quietly()
            except Exception:  # the watchdog must outlive any one bad job
                log.exception("job watchdog round failed")
