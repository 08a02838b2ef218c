"""The fleet: several ComfyUI backends behind one gateway (issue 13).

A job goes to a healthy backend that has every node class and model file it names; among those, the least
loaded (queue length / weight). A health loop asks every backend's /system_stats each `health_interval`;
`fail_after` failures in a row drain it: its jobs not started yet move to another backend that can run them
(under the same prompt id; ComfyUI takes a client-given one), or wait in the gateway (`held`) until one can;
its running jobs are `job_lost`, or run again elsewhere when their request asked for `retries`. A drained
backend is checked every `retry_interval` and takes jobs again once it answers. A fleet of one never drains:
the single-backend behaviour (the event stream's own lost-job verdicts) stays as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from api.errors import RETRY_AFTER_SECONDS, ApiError, BadRequest
from api.fleet.backend import Backend
from api.jobs.bus import Queues
from api.jobs.service import Lane
from api.jobs.settle import Location, apply_location, locate, never_sent
from api.jobs.state import Job, JobError, JobStatus, event
from comfyui_client import LOST_REASON, ComfyError, PromptRejected, UploadedFile

if TYPE_CHECKING:
    from api.metrics import BackendSample, Metrics
    from node_catalog import Catalog

log = logging.getLogger(__name__)


class NoBackendAvailable(ApiError):
    """Every backend of the fleet is down: nothing can be accepted now (503 with Retry-After)."""

    status_code = 503
    code = "no_backend_available"

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}


def wanted_tags(request: Mapping[str, Any] | None) -> frozenset[str]:
    """The backend tags a job's request asks for (`backend_tags` of a submit), none by default."""
    tags = (request or {}).get("backend_tags") or ()
    return frozenset(str(t) for t in tags) if isinstance(tags, list | tuple) else frozenset()


HELD = ""  # the `backend` recorded for a job waiting in the gateway for a backend (kept across restarts)
IN_GATEWAY, REFUSED = "held", "refused"  # where a placement went, besides a backend (metrics' labels)


def owner_rule(names: list[str]) -> Callable[[str], Callable[[Job], bool]]:
    """For each backend name, which active jobs of the database its tracker takes at start: its own, and for
    the first (primary) backend also jobs recorded before the fleet or for a backend no longer configured.
    Held jobs are no tracker's: the fleet places them (`Fleet.start`)."""

    others = (*names, HELD) if len(names) > 1 else tuple(names)  # a fleet of one has no held jobs to place

    def owns(name: str) -> Callable[[Job], bool]:
        primary = name == names[0]
        return lambda job: job.backend == name or (primary and job.backend not in others)

    return owns


class Fleet:
    def __init__(
        self,
        backends: list[Backend],
        *,
        health_interval: float = 2.0,
        fail_after: int = 2,
        retry_interval: float = 5.0,
        check_timeout: float = 3.0,
        metrics: Metrics | None = None,
    ) -> None:
        if not backends:
            raise ValueError("a fleet needs at least one backend")
        self.backends = backends
        for backend in backends[1:]:  # one set of subscribers per process: a moved job keeps its own
            backend.tracker.subscribers = backends[0].tracker.subscribers
        if len(backends) == 1:
            backends[0].healthy = True  # a fleet of one is never drained: it takes every job
        self.health_interval = health_interval
        self.fail_after = fail_after
        self.retry_interval = retry_interval
        self.check_timeout = check_timeout
        self.metrics = metrics  # placements and moves are counted there (api.metrics)
        self._held: dict[str, tuple[Job, Queues]] = {}  # accepted, waiting for a backend that can run it
        self._task: asyncio.Task[None] | None = None
        self._moving = asyncio.Lock()  # one drain or placement round at a time

    @property
    def primary(self) -> Backend:
        return self.backends[0]

    def named(self, name: str | None) -> Backend | None:
        return next((b for b in self.backends if b.name == name), None)

    # -- the Placement protocol of api.jobs.service ----------------------------------------------------------
    def lanes(self) -> list[Lane]:
        return [b.lane for b in self.backends]

    def backend_of(self, job: Job) -> Backend:
        """The backend that runs (or ran) the job; the primary for jobs from before the fleet."""
        return self.named(job.backend) or self.primary

    def lane_of(self, job: Job) -> Lane:
        return self.backend_of(job).lane

    def held(self, prompt_id: str) -> Job | None:
        entry = self._held.get(prompt_id)
        return entry[0] if entry is not None else None

    def choose(
        self,
        workflow: Mapping[str, Any],
        request: Mapping[str, Any] | None = None,
        exclude: Sequence[Lane] = (),
    ) -> Lane:
        """The lane a new job goes to (`request`'s `backend_tags`: only backends carrying them);
        `NoBackendAvailable` when every such backend of a fleet is down (or in `exclude`: it refused the
        connection). When no healthy backend can run it, the first healthy one is given: its validation
        says what is missing."""
        if len(self.backends) == 1:
            return self.primary.lane  # a fleet of one: its own errors (unreachable, refused) tell the caller
        tags = wanted_tags(request)
        tagged = [b for b in self.backends if tags <= b.spec.tags]
        if not tagged:
            carried = ", ".join(f"{b.name} {sorted(b.spec.tags)}" for b in self.backends)
            raise BadRequest(f"no backend carries the tags {sorted(tags)} (backends: {carried})")
        skip = tuple(b.name for b in self.backends if b.lane in exclude)
        backend = self.choose_backend(workflow, skip, tags)
        if backend is None:
            healthy = [b for b in tagged if b.healthy and b.name not in skip]
            if not healthy:
                raise NoBackendAvailable(
                    f"none of the {len(tagged)} ComfyUI backends that could take this job answers; jobs "
                    "accepted before are kept and run once one is back: retry later"
                )
            backend = healthy[0]
        backend.reserved += 1  # counted as load until its tracker has the job (`release`)
        if self.metrics is not None:
            self.metrics.placed(backend.name)
        return backend.lane

    def release(self, lane: Lane) -> None:
        for backend in self.backends:
            if backend.lane is lane:
                backend.reserved = max(0, backend.reserved - 1)

    def choose_backend(
        self, workflow: Mapping[str, Any], exclude: tuple[str, ...] = (), tags: frozenset[str] = frozenset()
    ) -> Backend | None:
        """Among healthy backends (not in `exclude`, carrying `tags`) that can run the workflow, the least
        loaded."""
        able = [
            b
            for b in self.backends
            if b.healthy and b.name not in exclude and tags <= b.spec.tags and b.missing(workflow) is None
        ]
        return min(able, key=lambda b: b.load) if able else None  # min keeps the first of equals

    # -- lifecycle -------------------------------------------------------------------------------------------
    async def upload(
        self, content: bytes, filename: str, *, subfolder: str = "", overwrite: bool = False, mime: str | None
    ) -> UploadedFile:
        """An input goes to every healthy backend, so whichever runs the job has it. The first one names it
        (it may rename on a clash); the others store it under that name. Fails only when none takes it."""
        healthy = [b for b in self.backends if b.healthy] or self.backends[:1]
        first, *others = healthy
        uploaded = await first.client.upload(
            content, filename, subfolder=subfolder, overwrite=overwrite, content_type=mime
        )
        for backend in others:
            try:
                await backend.client.upload(
                    content, uploaded.name, subfolder=uploaded.subfolder, overwrite=True, content_type=mime
                )
            except ComfyError as exc:  # that backend misses the file; validation against it says so
                log.warning("input %s not copied to backend %s: %s", uploaded.ref, backend.name, exc)
        for backend in healthy:
            backend.catalogs.invalidate()  # loaders list the input folder's files: the next run must see it
        return uploaded

    @property
    def replicated(self) -> bool:
        """Several gateway replicas share the jobs (REDIS_URL): each backend has a leader (api.jobs.lease)."""
        return self.primary.tracker.replica is not None

    async def start(self) -> None:
        if not self.replicated:  # with replicas the primary's leader loads held jobs (`_load_held`)
            await self._load_held()
        for backend in self.backends:
            await backend.start()
        if len(self.backends) > 1:
            self._task = asyncio.create_task(self._health_loop(), name="fleet-health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for backend in self.backends:
            await backend.stop()

    # -- health ----------------------------------------------------------------------------------------------
    async def _health_loop(self) -> None:
        while True:
            try:
                await self.check_all()
            except Exception:  # the loop must outlive any one bad round
                log.exception("fleet health round failed")
            await asyncio.sleep(self.health_interval)

    async def check_all(self) -> None:
        """One health round: check the backends that are due, drain the failing, take back the returning,
        place jobs waiting for a backend."""
        now = time.monotonic()
        due = [
            b
            for b in self.backends
            if b.healthy or b.checked_at is None or now - b.checked_at >= self.retry_interval
        ]
        results = await asyncio.gather(*(self.probe(b) for b in due))
        for backend, error in zip(due, results, strict=True):
            await self._record(backend, error)
        for backend in self.backends:  # a replica that took a drained backend's lease moves what it adopted
            if backend.healthy or not backend.tracker.leading:
                continue
            if backend.tracker.replica is not None:  # rows another replica left `submitting` there too
                await backend.tracker.replica.load_active()
            if self._movable(backend):
                await self.drain(backend)
        if self.replicated:  # held jobs are the primary's leader's to place (one replica places each)
            async with self._moving:
                await (self._load_held() if self.primary.tracker.leading else self._hand_held_over())
        if self._held:
            await self.place_held()

    async def probe(self, backend: Backend) -> str | None:
        """None when the backend answers /system_stats in time, else why not."""
        try:
            async with asyncio.timeout(self.check_timeout):
                await backend.client.system_stats()
        except TimeoutError:
            return f"no answer within {self.check_timeout:g} s"
        except ComfyError as exc:
            return str(exc) or type(exc).__name__
        return None

    async def _locate(self, backend: Backend, job: Job) -> Location | None:
        """Where the backend has the job (its /queue, then /history), asked before the job goes elsewhere;
        None when it does not answer within `check_timeout`."""
        try:
            async with asyncio.timeout(self.check_timeout):
                return await locate(backend.client, job.prompt_id)
        except (TimeoutError, ComfyError) as exc:
            log.info("backend %s cannot say whether it has job %s: %s", backend.name, job.prompt_id, exc)
            return None

    async def _record(self, backend: Backend, error: str | None) -> None:
        backend.checked_at = time.monotonic()
        if error is None:
            backend.failures, backend.error = 0, None
            if not backend.healthy:
                log.warning("backend %s answers again: it takes jobs", backend.name)
                await backend.catalogs.refresh_now()  # it may have come back with other nodes or files
                backend.healthy = True
            return
        backend.failures += 1
        backend.error = error
        if backend.healthy and backend.failures >= self.fail_after:
            log.error("backend %s drained after %d failed checks: %s", backend.name, backend.failures, error)
            backend.healthy = False  # its jobs are moved by `check_all`, on the replica leading it

    # -- moving jobs -----------------------------------------------------------------------------------------
    def _movable(self, backend: Backend) -> bool:
        """The drained backend still has jobs a drain would move or end (not those whose POST is under way
        here or, a moment ago, on another replica)."""
        replica = backend.tracker.replica
        return any(
            not job.terminal
            and not backend.tracker.is_submitting(job.prompt_id)
            and not (job.status is JobStatus.SUBMITTING and replica is not None and replica.in_flight(job))
            for job in backend.tracker.jobs.values()
        )

    async def drain(self, backend: Backend) -> None:
        """The backend went away: jobs it had not started move on (or wait), running ones are lost (or run
        again elsewhere when their request asked for retries). Jobs whose POST is still under way stay:
        their submission settles them against this backend."""
        async with self._moving:
            for job in list(backend.tracker.jobs.values()):
                try:
                    await self._drain_one(backend, job)
                except Exception:  # one job's trouble must not leave the others behind
                    log.exception("could not move job %s off backend %s", job.prompt_id, backend.name)

    async def _drain_one(self, backend: Backend, job: Job) -> None:
        if job.awaiting_end and job.end_requested is not None:
            # A cancel or timeout was asked and the backend is gone: nothing runs it any more.
            await backend.tracker.finish(job, job.end_requested, error=job.end_reason)
        elif job.status is JobStatus.PENDING:
            await self._move(backend, job, why="not started", reason="not_started")
        elif job.status is JobStatus.SUBMITTING and not backend.tracker.is_submitting(job.prompt_id):
            if (replica := backend.tracker.replica) is not None and replica.in_flight(job):
                return  # another replica may still be posting it: its answer settles it
            location = await self._locate(backend, job)
            if location is not None and location.known:  # it has the job after all: followed there
                await apply_location(backend.tracker, job, location, why="known to its backend")
                return
            # Its POST had no clear answer and the backend is gone (or answers without it): whatever it got
            # is lost with it (and withdrawn should it come back), so the job runs elsewhere.
            job.status = JobStatus.PENDING
            await self._move(backend, job, why="submission unconfirmed", reason="unconfirmed")
        elif job.status is JobStatus.RUNNING:
            await self._lost(backend, job)

    async def move_unconfirmed(self, lane: Lane, job: Job) -> bool:
        """A submission whose POST got no clear answer (a timeout, a dropped connection) from a backend that
        cannot be asked since: the job runs on another backend able to run it, under the same prompt id, or
        waits in the gateway for one (`held`), instead of staying `submitting` until that backend answers.
        Should the backend come back with it after all, it is withdrawn there (queued: deleted; started:
        interrupted; `guard`, also on the backend's other replicas): it never runs twice. False (the job
        stays `submitting`, settled by that backend's answer) in a fleet of one, or when the job is older
        than `SUBMIT_GRACE`: the backend's leader may be moving it already (one replica moves a job)."""
        source = next((b for b in self.backends if b.lane is lane), None)
        replica = lane.tracker.replica
        if source is None or len(self.backends) == 1 or (replica is not None and not replica.in_flight(job)):
            return False
        async with self._moving:
            lane.tracker.unconfirmed(job)
            if job.terminal or lane.tracker.jobs.get(job.prompt_id) is not job:
                return False  # settled or moved meanwhile
            job.status = JobStatus.PENDING
            await self._move(
                source, job, why=f"backend {source.name} did not confirm the submission", reason="unconfirmed"
            )
        return True

    async def _lost(self, backend: Backend, job: Job) -> None:
        retries = (job.request or {}).get("retries") or 0
        if isinstance(retries, int) and job.attempts < retries:
            job.attempts += 1
            job.progress, job.current_node, job.started_at, job.outputs = 0.0, None, None, []
            job.node_fraction.clear()
            job.status = JobStatus.PENDING
            await self._move(
                backend,
                job,
                why=f"lost while running, attempt {job.attempts + 1} of {retries + 1}",
                reason="retry",
            )
            return
        reason = f"{LOST_REASON} (backend {backend.name} went away while it ran)"
        await backend.tracker.finish(job, JobStatus.FAILED, error=JobError(message=reason, type="job_lost"))

    async def _move(self, source: Backend, job: Job, *, why: str, reason: str) -> None:
        """Take the job off `source`, place it elsewhere or hold it (`reason`: the move's metric label)."""
        released = source.tracker.release(job.prompt_id)
        if released is None:
            return
        source.tracker.guard(job.prompt_id)  # should the backend come back with it queued: withdrawn there
        _, subscribers = released
        requeued = event(job, "requeued", reason=why, backend=source.name)
        for q in subscribers:
            q.put_nowait(requeued)
        log.warning("job %s leaves backend %s (%s)", job.prompt_id, source.name, why)
        self._held[job.prompt_id] = (job, subscribers)
        target = await self._place(job.prompt_id, exclude=(source.name,))
        self._count_move(source.name, target, reason)
        if source.tracker.replica is not None:  # the source's other replicas let their copies go
            await source.tracker.replica.share(job, [requeued])

    async def place_held(self) -> None:
        async with self._moving:
            for prompt_id in list(self._held):
                try:
                    if (target := await self._place(prompt_id)) != IN_GATEWAY:
                        self._count_move(IN_GATEWAY, target, "placed")
                except Exception:  # it stays held (or with the backend that took it); the next round retries
                    log.exception("could not place held job %s", prompt_id)

    def _count_move(self, source: str, target: str, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.moved(source, target, reason)

    async def _place(self, prompt_id: str, exclude: tuple[str, ...] = ()) -> str:
        """Submit a held job, under its own prompt id, to the best backend that can run it; it stays held
        while none can (never dropped). Returns where it went: a backend's name, `IN_GATEWAY` (held) or
        `REFUSED` (the backend refused it: the job failed)."""
        job, subscribers = self._held[prompt_id]
        target = self.choose_backend(job.workflow, exclude, wanted_tags(job.request))
        if target is None:
            log.info("job %s waits for a backend that can run it", prompt_id)
            await self._record_held(job)
            return IN_GATEWAY
        del self._held[prompt_id]
        for other in self.backends:  # subscribed while held: their queue sits on the tracker they asked
            subscribers |= other.tracker.take_subscribers(prompt_id)
        tracker = target.tracker
        job.status = JobStatus.SUBMITTING
        tracker.adopt(job, subscribers)
        try:
            submitted = await target.client.submit(
                job.workflow, prompt_id=prompt_id, extra_data=job.extra_data
            )
        except PromptRejected as exc:
            await tracker.not_submitted(job, f"backend {target.name} refused the moved job: {exc}")
            return REFUSED
        except ComfyError as exc:
            if never_sent(exc):  # that one is down too: wait for the next
                released = tracker.release(prompt_id)
                job.status = JobStatus.PENDING
                self._held[prompt_id] = (job, released[1] if released else subscribers)
                await self._record_held(job)
                return IN_GATEWAY
            tracker.unconfirmed(job)  # settled from its /queue and /history (api.jobs.settle)
            return target.name
        job.number = submitted.number
        await tracker.submitted(job)
        log.warning("job %s now runs on backend %s", prompt_id, target.name)
        return target.name

    async def _load_held(self) -> None:
        """Jobs recorded waiting in the gateway (a gateway stopped, or another replica could not place
        them) are this fleet's to place; held ones that ended or were placed meanwhile are let go."""
        if len(self.backends) == 1:
            return  # a fleet of one has no held jobs to place
        rows = {
            job.prompt_id: job for job in await self.primary.tracker.store.active() if job.backend == HELD
        }
        for prompt_id, (job, subscribers) in list(self._held.items()):
            if job.backend == HELD and prompt_id not in rows:  # cancelled or placed by another replica
                del self._held[prompt_id]
                self.primary.tracker.subscribers.join(prompt_id, subscribers)
        for prompt_id, job in rows.items():
            self._held.setdefault(prompt_id, (job, self.primary.tracker.take_subscribers(prompt_id)))

    async def _hand_held_over(self) -> None:
        """Not (or no longer) the primary's leader: held jobs are recorded and left to it."""
        for prompt_id, (job, subscribers) in list(self._held.items()):
            await self._record_held(job)
            del self._held[prompt_id]
            self.primary.tracker.subscribers.join(prompt_id, subscribers)

    async def _record_held(self, job: Job) -> None:
        """Write that the job waits in the gateway, so a restarted gateway places it instead of asking a
        backend that never had it (which would call it lost)."""
        if job.backend != HELD:
            job.backend = HELD
            await self.primary.tracker.save(job)

    async def cancel_held(self, prompt_id: str) -> Job | None:
        """Cancel a job waiting for a backend (None when it is not waiting): nothing runs, it just ends."""
        async with self._moving:
            entry = self._held.pop(prompt_id, None)
            if entry is None:
                return None
            job, subscribers = entry
            tracker = self.backend_of(job).tracker
            tracker.adopt(job, subscribers, submitting=False)
            await tracker.finish(
                job, JobStatus.CANCELLED, error=JobError(message="cancelled by request", type="cancelled")
            )
            return job

    def view(self) -> list[dict[str, Any]]:
        return [b.view() for b in self.backends]

    def samples(self) -> list[BackendSample]:
        """Each backend as /metrics shows it (read at scrape time)."""
        return [b.sample(draining=not b.healthy and self._movable(b)) for b in self.backends]

    def held_count(self) -> int:
        return len(self._held)

    async def get(self) -> Catalog:
        """The node catalog generation runs plan with (a `pipeline.CatalogSource`): the first healthy
        backend's, the primary's when none is; the job then goes to a backend that can run the graph."""
        backend = next((b for b in self.backends if b.healthy), self.primary)
        return await backend.catalogs.get()
