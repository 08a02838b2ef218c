"""One of several gateway replicas (REDIS_URL set): what a `JobTracker` does differently.

Every replica serves every route. They share the job database (PostgreSQL) and the ComfyUI client id kept in
it, and talk through an `api.jobs.bus.EventBus` (Redis pub/sub):

* Exactly one replica, the holder of the backend's lease (`api.jobs.lease`), follows ComfyUI's event stream
  and maps its events onto jobs (the leader). On taking over it loads every unfinished job of the database;
  the stream's first-connect check settles those that ended meanwhile. An event naming a job it does not
  know (submitted through another replica a moment ago) loads that job from the database.
* Every change a replica makes to a job (the leader's events; a submit, a cancel, a timeout) is published
  as a message carrying the job's state and its public events. Others apply it to their copy in memory
  (`merge`: a state never goes back, a finished job never changes), hand the events to their own SSE and
  WebSocket subscribers, and forget a finished job without writing it (its origin did).
* Pub/sub may lose messages (a Redis reconnect): a replica that does not lead re-reads the unfinished jobs
  it holds from the database every `reconcile_interval`, so no copy stays behind for long.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from api.jobs.lease import lead
from api.jobs.state import Job, JobError, JobStatus, event, nodes_that_run
from comfyui_client import JobLostEvent, OutputRef

if TYPE_CHECKING:
    from api.jobs.bus import EventBus
    from api.jobs.lease import Lease
    from api.jobs.tracker import JobTracker
    from comfyui_client import Event

log = logging.getLogger(__name__)

SUBMIT_GRACE = 30.0  # seconds another replica may still be posting a `submitting` job: not settled before
_UNKNOWN_KEPT = 1000  # prompt ids found in no row, remembered so their events cost no more reads

_RANK = {JobStatus.SUBMITTING: 0, JobStatus.PENDING: 1, JobStatus.RUNNING: 2}


def _rank(status: JobStatus) -> int:
    return 3 if status.terminal else _RANK[status]


def snapshot(job: Job) -> dict[str, Any]:
    """The part of a job that changes while it lives (the rest is in its database row)."""
    return {
        "status": job.status.value,
        "progress": job.progress,
        "current_node": job.current_node,
        "number": job.number,
        "outputs": [o.to_dict() for o in job.outputs],
        "error": job.error.to_dict() if job.error else None,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "end_requested": job.end_requested.value if job.end_requested else None,
        "end_reason": job.end_reason.to_dict() if job.end_reason else None,
        "backend": job.backend,
    }


def merge(job: Job, state: dict[str, Any]) -> None:
    """Apply another replica's view of a job to ours: newer states win, nothing goes back, a finished job
    stays as it finished."""
    if job.terminal:
        return
    status = JobStatus(state["status"])
    if state.get("end_requested") and job.end_requested is None:
        job.end_requested = JobStatus(state["end_requested"])
        job.end_reason = JobError.from_dict(state["end_reason"]) if state.get("end_reason") else None
    if _rank(status) < _rank(job.status):
        return  # older than what we know
    outputs = [OutputRef.from_dict(o) for o in state.get("outputs") or []]
    job.status = status
    job.number = state.get("number") if state.get("number") is not None else job.number
    job.started_at = state.get("started_at") or job.started_at
    job.current_node = state.get("current_node")
    if status.terminal:
        job.progress = state.get("progress") or 0.0
        job.outputs = outputs
        job.error = JobError.from_dict(state["error"]) if state.get("error") else None
        job.finished_at = state.get("finished_at")
    else:
        job.progress = max(job.progress, state.get("progress") or 0.0)
        if len(outputs) > len(job.outputs):
            job.outputs = outputs


class Replication:
    """A tracker's link to the other replicas: the bus, the backend's lease, and the copies of jobs."""

    def __init__(self, tracker: JobTracker, bus: EventBus, lease: Lease | None) -> None:
        self.tracker = tracker
        self.bus = bus
        self.lease = lease  # None: this replica always leads (tests; a single replica with a bus)
        self.leading = lease is None
        self._unknown: dict[str, None] = {}  # ordered set of prompt ids no row names

    async def start(self) -> None:
        await self.bus.start(self.receive)

    async def stop(self) -> None:
        await self.bus.stop()

    async def follow(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` (follow the backend's event stream) while this replica holds the lease."""

        async def take_over() -> None:
            await self.load_active()
            await work()

        if self.lease is None:
            await take_over()
            return
        await lead(self.lease, take_over, on_change=self._leading)

    def _leading(self, leading: bool) -> None:
        self.leading = leading

    # -- messages ------------------------------------------------------------------------------------------
    async def share(self, job: Job, events: list[dict[str, Any]]) -> None:
        """Tell the other replicas what this one changed (the state, and events for their subscribers)."""
        await self.bus.publish(
            {"type": "job", "prompt_id": job.prompt_id, "state": snapshot(job), "events": events}
        )

    async def receive(self, message: dict[str, Any]) -> None:
        """Another replica changed a job: our copy follows, our subscribers get the events."""
        if message.get("type") != "job":
            return
        tracker = self.tracker
        prompt_id = str(message["prompt_id"])
        state: dict[str, Any] = message["state"]
        events: list[dict[str, Any]] = message.get("events") or []
        if (moved_to := state.get("backend")) is not None and moved_to != tracker.backend:
            # Moved off this backend (the message of a fleet's move): should this backend still get it (a
            # POST with no clear answer arriving late), it is withdrawn here, by whichever replica leads it.
            tracker.guard(prompt_id)
        else:
            tracker.withdrawals.pop(prompt_id, None)  # on this backend (again): ours to run
        job = tracker.jobs.get(prompt_id)
        if job is not None and state.get("backend", job.backend) != job.backend:
            self._moved(job)  # the fleet moved it off this backend (or it waits for one)
            job = None
        elif job is None and self.leading and _rank(JobStatus(state["status"])) in (1, 2):
            job = await self.adopt(prompt_id)  # submitted through another replica: follow it
        if job is None:
            tracker.subscribers.deliver(prompt_id, events)
            return
        merge(job, state)
        tracker.subscribers.deliver(prompt_id, events)
        if any(e.get("event") == "started" for e in events):
            tracker.queue_view.running(prompt_id)
        if job.terminal:
            self._ended_elsewhere(job)

    def _moved(self, job: Job) -> None:
        """Another replica's fleet moved the job to another backend: our copy leaves this tracker without a
        write; the subscribers stay (a fleet's trackers share them) and get the new backend's events."""
        log.info("job %s left backend %s (moved by another replica)", job.prompt_id, self.tracker.backend)
        self.tracker.let_go(job.prompt_id)

    def _catch_up(self, job: Job, row: Job) -> None:
        """Our copy takes the database's state; ended there (a message lost or not here yet), our
        subscribers still get the end; moved to another backend, it leaves this tracker."""
        if row.backend != job.backend:
            self._moved(job)
            return
        merge(job, snapshot(row))
        if job.terminal:
            self.tracker.subscribers.deliver(job.prompt_id, [event(job, "finished")])
            self._ended_elsewhere(job)

    def _ended_elsewhere(self, job: Job) -> None:
        """A job another replica ended (and wrote): leaves our memory without a write of ours."""
        tracker = self.tracker
        tracker.queue_view.ended(job.prompt_id)
        if tracker.stream is not None:
            tracker.stream.untrack(job.prompt_id)
        for hook in tracker.replica_hooks:
            try:
                hook(job)
            except Exception:
                log.exception("replica hook %r failed for job %s", hook, job.prompt_id)
        tracker.drop(job)

    # -- jobs this replica did not submit -----------------------------------------------------------------
    def hold(self, job: Job) -> Job:
        """Keep a live job read from the database in memory (the bus keeps it current); the leader also
        follows it on the stream. The copy already held wins (a read and an event may race): one copy."""
        tracker = self.tracker
        if (held := tracker.jobs.get(job.prompt_id)) is not None:
            return held
        job.will_run = nodes_that_run(job.workflow, tracker.output_classes)
        tracker.jobs[job.prompt_id] = job
        tracker.withdrawals.pop(job.prompt_id, None)  # placed here (again): no longer withdrawn
        if self.leading and tracker.stream is not None and job.status is not JobStatus.SUBMITTING:
            tracker.stream.track(job.prompt_id)
        return job

    async def job_of(self, ev: Event, job: Job | None) -> Job | None:
        """The job an event of the stream is about. One submitted through another replica a moment ago is
        read from its row; one the stream reports lost may have been ended by another replica (a pending
        job cancelled there leaves ComfyUI's queue and never reaches its history): its row tells."""
        if not ev.prompt_id:
            return job
        if job is None:
            return await self.adopt(ev.prompt_id)
        if isinstance(ev, JobLostEvent):
            row = await self.tracker.store.get(job.prompt_id)
            if row is not None and row.terminal:
                self._catch_up(job, row)
                return None
        return job

    async def adopt(self, prompt_id: str) -> Job | None:
        """The job of an event or message this replica does not hold, read from the database (None: no
        unfinished job has this id)."""
        if prompt_id in self._unknown:
            return None
        job = await self.tracker.store.get(prompt_id)
        if (held := self.tracker.jobs.get(prompt_id)) is not None:
            return held  # adopted meanwhile (its event and its message raced): one copy only
        if job is not None and not job.terminal and not self.tracker.owns(job):
            return None  # another backend's (it may move here later: not remembered as unknown)
        if job is None or job.terminal:
            self._unknown[prompt_id] = None
            while len(self._unknown) > _UNKNOWN_KEPT:
                del self._unknown[next(iter(self._unknown))]
            return None
        log.info("following job %s submitted through another replica", prompt_id)
        return self.hold(job)

    async def load_active(self) -> None:
        """On taking the lease: every unfinished job of the database, ours to follow from now on."""
        tracker = self.tracker
        for row in await tracker.store.active():
            if not tracker.owns(row):
                continue  # another backend's job: its own leader follows it
            job = tracker.jobs.get(row.prompt_id)
            if job is None:
                self.hold(row)
            else:
                merge(job, snapshot(row))

    async def resync(self) -> None:
        """A replica that does not lead re-reads the unfinished jobs it holds (a message may be lost): one
        query for the unfinished rows, then one read per held job that is no longer among them (ended)."""
        tracker = self.tracker
        held = [j for j in tracker.jobs.values() if not j.terminal and not tracker.is_submitting(j.prompt_id)]
        if self.leading or not held:
            return
        rows = {row.prompt_id: row for row in await tracker.store.active()}
        for job in held:
            row = rows.get(job.prompt_id) or await tracker.store.get(job.prompt_id)
            if row is not None:
                self._catch_up(job, row)

    def in_flight(self, job: Job) -> bool:
        """Another replica may still be posting this `submitting` job: too young to call it lost."""
        return time.time() - job.created_at < SUBMIT_GRACE


def replicate(tracker: JobTracker, redis_url: str, *, backend: str, lease_ttl: float) -> Replication:
    """Make `tracker` one of several replicas sharing Redis at `redis_url`: a bus channel and a lease key
    per deployment (the database's ComfyUI client id) and backend (the tracker follows one backend: a fleet
    replicates each backend's tracker under the backend's name)."""
    from api.jobs.bus import RedisBus, redis_client
    from api.jobs.lease import Lease

    redis = redis_client(redis_url)  # the lease's and the publisher's connections
    origin = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    scope = f"comfy-gateway:{tracker.client.client_id}"
    bus = RedisBus(redis_url, f"{scope}:jobs:{backend}", origin, redis=redis)  # one backend's jobs
    lease = Lease(redis, f"{scope}:lease:{backend}", origin, ttl=lease_ttl)
    replica = Replication(tracker, bus, lease)
    tracker.replica = replica
    return replica
