"""JobService: validate, submit, record, follow, wait for and cancel jobs. Routes and the pipeline use it.

Routes get everything about jobs from here (never from the tracker): `get`/`find`, `subscribe`,
`queue_position`, `refresh_queue`, `live_job`, `active_count`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from api.errors import ApiError, InvalidWorkflow, JobAlreadyFinished, JobNotFound
from api.jobs import cancel, settle
from api.jobs.errors import IdempotencyConflict, JobDatabaseUnavailable, NotSubmitted, SubmitUnconfirmed
from api.jobs.settle import Location, locate, never_sent
from api.jobs.state import Job, JobStatus
from api.jobs.store import IdempotencyKeyTaken, JobStoreError
from api.jobs.tracker import JobTracker
from api.logs import bind_job
from api.workflow_intake import Verdicts, off_loop, small

if TYPE_CHECKING:
    from api.jobs.idempotency import Idempotency
    from comfyui_client import ComfyClient, ComfyError, QueueSnapshot
    from node_catalog import Catalog
    from node_catalog.limits import GraphLimits
    from node_catalog.validation import ValidationReport

log = logging.getLogger(__name__)


class JobWaitTimeout(ApiError):
    """`wait` gave up before the job ended (the job itself goes on)."""

    status_code = 504
    code = "wait_timeout"


@dataclass(frozen=True)
class Lane:
    """Where jobs run: one ComfyUI backend's client, the tracker following it, and its node catalog."""

    client: ComfyClient
    tracker: JobTracker
    catalog: Callable[[], Catalog]
    refresh_catalog: Callable[[], Awaitable[bool]] | None = None


class Placement(Protocol):
    """Which lane runs a new job and which runs a known one (api.fleet.Fleet: several backends)."""

    def lanes(self) -> list[Lane]: ...

    def choose(
        self, workflow: Mapping[str, Any], request: Mapping[str, Any] | None, exclude: Sequence[Lane] = ()
    ) -> Lane: ...

    def release(self, lane: Lane) -> None: ...  # the job `choose` gave this lane is recorded there (or not)

    def lane_of(self, job: Job) -> Lane: ...

    def held(self, prompt_id: str) -> Job | None: ...

    async def cancel_held(self, prompt_id: str) -> Job | None: ...

    # A job whose POST got no clear answer from a lane that cannot be asked: run it on another (or wait in
    # the gateway for one); False when it must stay `submitting` on this lane.
    async def move_unconfirmed(self, lane: Lane, job: Job) -> bool: ...


class JobService:
    """The one way jobs are created: every submission is validated, then queued, then recorded.

    `client`/`tracker`/`catalog` are the only lane, unless `placement` (the fleet) chooses among several.
    """

    def __init__(
        self,
        client: ComfyClient,
        tracker: JobTracker,
        catalog: Callable[[], Catalog],
        refresh_catalog: Callable[[], Awaitable[bool]] | None = None,
        *,
        confirm_window: float = 10.0,
        cancel_window: float = 5.0,
        limits: GraphLimits | None = None,
        validation_budget: float = 10.0,
        queue_max_age: float = 10.0,
        placement: Placement | None = None,
    ) -> None:
        self.client = client
        self.placement = placement
        self.cancel_window = cancel_window  # seconds a cancel waits for ComfyUI to confirm it
        self.confirm_window = confirm_window  # seconds to keep asking ComfyUI about an unanswered submit
        self.limits = limits  # size limits and cost policy (hostile input); None: the validator's defaults
        self.validation_budget = validation_budget
        self.queue_max_age = queue_max_age  # seconds a queue snapshot is served without asking ComfyUI again
        self.tracker = tracker
        self._single = Lane(client, tracker, catalog, refresh_catalog)  # the primary backend's
        self.verdicts = Verdicts()  # graphs found valid, per catalog

    @property
    def catalog(self) -> Catalog:
        return self._single.catalog()

    def lanes(self) -> list[Lane]:
        return self.placement.lanes() if self.placement is not None else [self._single]

    def lane_of(self, job: Job) -> Lane:
        """The lane (backend) running the job: where its status, cancel and outputs are asked."""
        return self.placement.lane_of(job) if self.placement is not None else self._single

    def client_of(self, job: Job) -> ComfyClient:
        return self.lane_of(job).client

    def _live_lane(self, prompt_id: str) -> Lane:
        """The lane following this job now (the primary one when none does: it reads the database)."""
        lanes = self.lanes()
        return next((lane for lane in lanes if prompt_id in lane.tracker.jobs), lanes[0])

    async def validate(self, workflow: dict[str, Any], lane: Lane | None = None) -> None:
        """Raise `InvalidWorkflow` with ComfyUI-shaped node errors when the catalog rejects the graph.

        File lists (inputs, models) inside the catalog go stale as files arrive: when the only complaints are
        values missing from a list, the live catalog is refreshed once and the graph checked again.
        """
        lane = lane or self._single
        report = await self._validate(workflow, lane)
        refresh = lane.refresh_catalog
        if (
            not report.ok
            and _only_list_misses(report.node_errors)
            and refresh is not None
            and await refresh()
        ):
            report = await self._validate(workflow, lane)
        if not report.ok:
            raise InvalidWorkflow.from_comfy_body(report.comfy_body())

    async def _validate(self, workflow: dict[str, Any], lane: Lane) -> ValidationReport:
        """node_catalog's verdict: remembered for a graph found valid already, computed on the event loop
        for a small graph, else off it within the time budget."""
        from node_catalog.validation import validate

        catalog = lane.catalog()
        key = self.verdicts.key(workflow)
        if key is not None and (known := self.verdicts.get(catalog, key)) is not None:
            return cast("ValidationReport", known)
        report = await off_loop(
            lambda: validate(workflow, catalog, limits=self.limits),
            budget=self.validation_budget,
            what="validating the workflow",
            inline=key is not None and small(key[1]),
        )
        if report.ok and key is not None:
            self.verdicts.add(catalog, key, report)
        return report

    async def submit(
        self,
        workflow: dict[str, Any],
        *,
        extra_data: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
        source: str = "workflow",
        idempotency: Idempotency | None = None,
        owner: str | None = None,
        forward_extra_data: dict[str, Any] | None = None,
    ) -> Job:
        """Validate, record, submit to ComfyUI; raises `InvalidWorkflow` (400) or a `ComfyError`.
        `owner` is the API key name the job belongs to (None: the gateway runs open).

        The row is written first (`submitting`), then the job is posted under our own prompt id: nothing
        ComfyUI runs is ever unrecorded. A refusal removes the row. An unclear outcome (timeout, dropped
        connection) is settled by asking ComfyUI's /queue and /history (`SubmitUnconfirmed` / `NotSubmitted`
        when it does not have it). With `idempotency`, a key already used returns its job, never a new run.
        With several backends the placement chooses one (from the workflow and the request); one that
        refuses the connection is left out and the next chosen (nothing reached it: no risk of a double run).
        `forward_extra_data` goes to ComfyUI with the prompt and is never stored (Comfy API v2: it may hold
        a partner-node API key).
        """
        from comfyui_client import ComfyError

        if self.placement is None:
            return await self._submit_on(
                self._single, workflow, extra_data, request, source, idempotency, owner, forward_extra_data
            )
        tried: list[Lane] = []
        while True:
            lane = self.placement.choose(workflow, request, tried)
            try:
                return await self._submit_on(
                    lane, workflow, extra_data, request, source, idempotency, owner, forward_extra_data
                )
            except ComfyError as exc:
                if not never_sent(exc) or len(tried) + 2 > len(self.lanes()):
                    raise
                log.warning(
                    "backend %s refused the connection (%s): choosing another", lane.tracker.backend, exc
                )
                tried.append(lane)
            finally:
                self.placement.release(lane)  # the job is now counted by that lane's tracker, or nowhere

    async def _submit_on(
        self,
        lane: Lane,
        workflow: dict[str, Any],
        extra_data: dict[str, Any] | None,
        request: dict[str, Any] | None,
        source: str,
        idempotency: Idempotency | None,
        owner: str | None,
        forward_extra_data: dict[str, Any] | None = None,
    ) -> Job:
        from comfyui_client import BadRequest, ComfyError, NotFound, PromptRejected

        await self.validate(workflow, lane)
        if idempotency is not None:
            existing = await self._replay(idempotency)
            if existing is not None:
                return existing
        job = Job(
            prompt_id=str(uuid.uuid4()),
            workflow=workflow,
            status=JobStatus.SUBMITTING,
            source=source,
            request=request,
            extra_data=dict(extra_data) if extra_data else None,
            client_id=lane.client.client_id,
            idempotency_key=idempotency.key if idempotency else None,
            request_hash=idempotency.fingerprint if idempotency else None,
            owner=owner,
        )
        bind_job(job.prompt_id)  # this request's log lines from here on name the job
        lane.tracker.prepare(job)
        try:
            await lane.tracker.store.insert(job)
        except IdempotencyKeyTaken:  # a concurrent request with the same key recorded its job first
            lane.tracker.forget(job.prompt_id)
            assert idempotency is not None
            winner = await self._replay(idempotency)
            if winner is None:
                raise
            return winner
        except JobStoreError as exc:
            lane.tracker.forget(job.prompt_id)
            raise JobDatabaseUnavailable(
                f"the job could not be recorded, so it was not submitted: {exc}"
            ) from exc
        except BaseException:
            lane.tracker.unconfirmed(job)  # cancelled: the row may be written; settled as not submitted
            raise
        try:
            sent = {**(extra_data or {}), **(forward_extra_data or {})} or None
            submitted = await lane.client.submit(workflow, prompt_id=job.prompt_id, extra_data=sent)
        except PromptRejected as exc:
            await self._discard(lane, job)
            raise InvalidWorkflow.from_comfy_body(exc.body) from exc
        except ComfyError as exc:
            # ComfyUI answered no, or was never reached: nothing can run.
            if never_sent(exc) or isinstance(exc, BadRequest | NotFound):
                await self._discard(lane, job)
                raise
            return await self._settle(lane, job, exc)
        except BaseException:
            lane.tracker.unconfirmed(job)  # cancelled mid-POST: the row stays `submitting`, settled later
            raise
        job.number = submitted.number
        # Written before the answer when the job already ended (its end is on record when we answer), and
        # with replicas: the others write this row too once ComfyUI has the job (the leader, as its events
        # come), and a late `pending` write of ours would put their newer state back.
        # Otherwise not waited for: its `submitting` row already records it, and a gateway that stops
        # before this write finds the job in ComfyUI's queue or history at its next start
        # (settle.resolve_submitting). Deferred, it rides with the job's next write (one ended by then:
        # written once).
        await lane.tracker.submitted(job, behind=not job.terminal and lane.tracker.replica is None)
        log.info("job %s submitted to %s (%s, %d nodes)", job.prompt_id, job.backend, source, len(workflow))
        return job

    async def _replay(self, idempotency: Idempotency) -> Job | None:
        """The job a key already made (same body), or None: unused, or its job never reached ComfyUI."""
        stored = await self.tracker.store.by_idempotency_key(idempotency.key)
        if stored is None:
            return None
        if stored.request_hash != idempotency.fingerprint:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with a different request body "
                f"(job {stored.prompt_id}); use a new key for a new request"
            )
        if stored.error is not None and stored.error.type == "not_submitted":
            await self.tracker.store.release_idempotency_key(stored.prompt_id)
            return None
        return self.live_job(stored.prompt_id) or stored

    async def _discard(self, lane: Lane, job: Job) -> None:
        """ComfyUI refused the job or was never reached: nothing ran, so nothing stays recorded."""
        lane.tracker.forget(job.prompt_id)
        try:
            await lane.tracker.store.delete(job.prompt_id)
        except Exception:  # the row stays `submitting`; the tracker fails it as not submitted
            log.exception("could not remove the row of refused job %s", job.prompt_id)
            lane.tracker.jobs[job.prompt_id] = job
            lane.tracker.unconfirmed(job)

    async def _settle(self, lane: Lane, job: Job, failure: ComfyError) -> Job:
        """POST /prompt had no clear answer: ask ComfyUI (within `confirm_window`) whether it has the job."""
        from comfyui_client import ComfyError, ComfyTimeout, ComfyUnavailable

        pid = job.prompt_id
        log.warning("submit of job %s unconfirmed (%s): asking ComfyUI", pid, failure)
        deadline = time.monotonic() + self.confirm_window
        location: Location | None = None
        while True:
            try:
                location = await locate(lane.client, pid)
            except ComfyError as exc:
                location = None
                log.info("cannot ask ComfyUI about job %s yet: %s", pid, exc)
            if (location is not None and location.known) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        if (
            location is None
            and self.placement is not None
            and await self.placement.move_unconfirmed(lane, job)
        ):
            return job
        if location is None:
            lane.tracker.unconfirmed(job)
            raise SubmitUnconfirmed(
                f"ComfyUI did not confirm job {pid} ({failure}) and cannot be asked now; the job is recorded "
                "as submitting and settled once ComfyUI answers: see its status, or retry with the same "
                "Idempotency-Key",
                extra={"prompt_id": pid},
            )
        await settle.apply_location(
            lane.tracker,
            job,
            location,
            why=f"ComfyUI never received the job (POST /prompt: {failure}); it was not run",
        )
        if not location.known and not isinstance(failure, ComfyTimeout | ComfyUnavailable):
            raise failure  # ComfyUI answered with an error (a 5xx): reported as such, recorded not submitted
        if not location.known:
            raise NotSubmitted(
                f"ComfyUI did not receive job {pid} ({failure}); nothing was run, retrying is safe",
                extra={"prompt_id": pid},
            )
        log.info("job %s submitted (confirmed by ComfyUI's %s)", pid, location.where)
        return job

    async def get(self, prompt_id: str) -> Job:
        job = await self.find(prompt_id)
        if job is None:
            raise JobNotFound(prompt_id)
        return job

    async def find(self, prompt_id: str) -> Job | None:
        """The job (from memory while live, else from the database); None for an unknown id."""
        if self.placement is None:
            return await self.tracker.get(prompt_id)
        for lane in self.lanes():
            if (job := lane.tracker.cached(prompt_id)) is not None:
                return job
        if (job := self.placement.held(prompt_id)) is not None:
            return job
        job = await self.tracker.store.get(prompt_id)
        return self.lane_of(job).tracker.keep(job) if job is not None else None

    async def output_owners(self, type: str, subfolder: str, filename: str) -> list[str | None]:
        """Owners of the jobs that produced this file (live jobs in memory first, then the database);
        empty when no job recorded it as an output."""
        owners = [
            job.owner
            for lane in self.lanes()
            for job in list(lane.tracker.jobs.values())
            for ref in job.outputs
            if (ref.type, ref.subfolder or "", ref.filename) == (type, subfolder, filename)
        ]
        return owners + await self.tracker.store.output_owners(type, subfolder, filename)

    def live_job(self, prompt_id: str) -> Job | None:
        """The job if the gateway follows it right now (in memory), else None; never reads the database."""
        for lane in self.lanes():
            if (job := lane.tracker.jobs.get(prompt_id)) is not None:
                return job
        return self.placement.held(prompt_id) if self.placement is not None else None

    @property
    def active_count(self) -> int:
        """Jobs not finished yet."""
        return sum(lane.tracker.active_count for lane in self.lanes())

    def queue_position(self, job: Job) -> int | None:
        """0 while running, 1.. while pending (from the last /queue snapshot of its backend), None once
        finished (or while held for a backend)."""
        return self._live_lane(job.prompt_id).tracker.queue_position(job)

    async def refresh_queue(self, lane: Lane | None = None) -> QueueSnapshot:
        """ComfyUI's queue now (ComfyError when it is down); also refreshes every job's position."""
        return await (lane or self._single).tracker.refresh_queue()

    async def queue(self, lane: Lane | None = None) -> tuple[QueueSnapshot, float]:
        """ComfyUI's queue (of `lane`, default the primary backend) and how old (seconds) the /queue answer
        it is built on is.

        Served from the tracker's view (kept current by the job events and refreshed on ComfyUI's `status`
        events) while the event stream is connected; a view older than `queue_max_age` is refreshed in
        the background, and at once past twice that. Not connected, or the last /queue failed: ComfyUI is
        asked now (ComfyError when it is down, so the route says so).
        """
        tracker = (lane or self._single).tracker
        view = tracker.queue_view
        snapshot = view.snapshot
        if tracker.connected and view.valid and snapshot is not None:
            age = view.age
            if age <= self.queue_max_age:
                return snapshot, age
            if age <= 2 * self.queue_max_age:
                tracker.schedule_queue_refresh()
                return snapshot, age
        return await tracker.refresh_queue(), 0.0

    def subscribe(self, prompt_id: str) -> AsyncIterator[dict[str, Any]]:
        """The job's public events from now on (a snapshot first), ending after `finished`."""
        return self._live_lane(prompt_id).tracker.subscribe(prompt_id)

    async def wait(self, prompt_id: str, *, timeout: float) -> Job:  # noqa: ASYNC109 - the contract
        """The job once it reaches a terminal status; `JobWaitTimeout` after `timeout` seconds."""
        await self.get(prompt_id)
        try:
            async with asyncio.timeout(timeout):
                async for _ in self.subscribe(prompt_id):
                    pass
        except TimeoutError as exc:
            raise JobWaitTimeout(f"job {prompt_id} did not finish within {timeout:g} s") from exc
        return await self.get(prompt_id)

    async def cancel(self, prompt_id: str) -> Job:
        """Cancel a pending or running job; finished: 409. Idempotent.

        The job is `cancelled` only once ComfyUI confirmed it (api.jobs.cancel): the answer comes within
        `cancel_window` s; a job still running then is returned as it is, with `end_requested` set (the
        route answers 202). ComfyUI unreachable: `CancelUnconfirmed` (503), and the tracker asks again.
        """
        job = await self.get(prompt_id)
        if job.status is JobStatus.CANCELLED:
            return job
        held = await self.placement.cancel_held(prompt_id) if self.placement is not None else None
        if held is not None:
            job = held  # waiting for a backend: nothing to ask ComfyUI
        elif not job.terminal:
            job = await cancel.cancel(self.lane_of(job).tracker, job, window=self.cancel_window)
        if job.terminal and job.status is not JobStatus.CANCELLED:
            raise JobAlreadyFinished(
                f"job {prompt_id} already finished with status {job.status.value!r}; "
                "only pending or running jobs can be cancelled"
            )
        return job


def _only_list_misses(node_errors: dict[str, Any]) -> bool:
    """Every error names a file (it has an extension) the catalog does not list: maybe a file just added."""
    errors = [e for info in node_errors.values() if isinstance(info, dict) for e in info.get("errors", [])]
    return bool(errors) and all(isinstance(e, dict) and _missing_file(e) for e in errors)


def _missing_file(error: dict[str, Any]) -> bool:
    if error.get("type") == "value_not_in_list":
        return "." in str((error.get("extra_info") or {}).get("received_value", ""))
    # LoadImage & co. check their file exists instead (ComfyUI's VALIDATE_INPUTS, mirrored by the catalog).
    return error.get("type") == "custom_validation_failed" and " file: " in str(error.get("details", ""))
