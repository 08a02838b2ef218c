"""JobService: validate, submit, record, follow, wait for and cancel jobs. Routes and the pipeline use it.

Routes get everything about jobs from here (never from the tracker): `get`/`find`, `subscribe`,
`queue_position`, `refresh_queue`, `live_job`, `active_count`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from api.errors import ApiError, InvalidWorkflow, JobAlreadyFinished, JobNotFound
from api.jobs.state import Job, JobError, JobStatus
from api.jobs.tracker import JobTracker

if TYPE_CHECKING:
    from comfyui_client import ComfyClient, QueueSnapshot
    from node_catalog import Catalog
    from node_catalog.limits import GraphLimits
    from node_catalog.validation import ValidationReport

log = logging.getLogger(__name__)


class JobWaitTimeout(ApiError):
    """`wait` gave up before the job ended (the job itself goes on)."""

    status_code = 504
    code = "wait_timeout"


class JobService:
    """The one way jobs are created: every submission is validated, then queued, then recorded."""

    def __init__(
        self,
        client: ComfyClient,
        tracker: JobTracker,
        catalog: Callable[[], Catalog],
        refresh_catalog: Callable[[], Awaitable[bool]] | None = None,
        *,
        limits: GraphLimits | None = None,
        validation_budget: float = 10.0,
    ) -> None:
        self.client = client
        self.limits = limits  # size limits and cost policy (hostile input); None: the validator's defaults
        self.validation_budget = validation_budget
        self.tracker = tracker
        self._catalog = catalog
        self._refresh_catalog = refresh_catalog

    @property
    def catalog(self) -> Catalog:
        return self._catalog()

    async def validate(self, workflow: dict[str, Any]) -> None:
        """Raise `InvalidWorkflow` with ComfyUI-shaped node errors when the catalog rejects the graph.

        File lists (inputs, models) inside the catalog go stale as files arrive: when the only complaints are
        values missing from a list, the live catalog is refreshed once and the graph checked again.
        """
        report = await self._validate(workflow)
        stale = not report.ok and _only_list_misses(report.node_errors) and self._refresh_catalog is not None
        if stale and self._refresh_catalog is not None and await self._refresh_catalog():
            report = await self._validate(workflow)
        if not report.ok:
            raise InvalidWorkflow.from_comfy_body(report.comfy_body())

    async def _validate(self, workflow: dict[str, Any]) -> ValidationReport:
        """node_catalog's verdict, computed off the event loop within the time budget."""
        from api.workflow_intake import off_loop
        from node_catalog.validation import validate

        catalog = self.catalog
        return await off_loop(
            lambda: validate(workflow, catalog, limits=self.limits),
            budget=self.validation_budget,
            what="validating the workflow",
        )

    async def submit(
        self,
        workflow: dict[str, Any],
        *,
        extra_data: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
        source: str = "workflow",
    ) -> Job:
        """Validate, submit to ComfyUI and record; raises `InvalidWorkflow` (400) or a `ComfyError`.

        The record is written once ComfyUI has accepted the job, in one transaction: a rejected or failed
        submission leaves nothing behind.
        """
        from comfyui_client import PromptRejected

        await self.validate(workflow)
        job = Job(
            prompt_id=str(uuid.uuid4()),
            workflow=workflow,
            source=source,
            request=request,
            extra_data=dict(extra_data) if extra_data else None,
            client_id=self.client.client_id,
        )
        self.tracker.prepare(job)
        try:
            submitted = await self.client.submit(workflow, prompt_id=job.prompt_id, extra_data=extra_data)
        except PromptRejected as exc:
            self.tracker.forget(job.prompt_id)
            raise InvalidWorkflow.from_comfy_body(exc.body) from exc
        except BaseException:
            self.tracker.forget(job.prompt_id)
            raise
        job.number = submitted.number
        try:
            await self.tracker.store.insert(job)
        except BaseException:
            # Recorded nowhere means nobody could follow it: take it back off ComfyUI's queue.
            self.tracker.forget(job.prompt_id)
            try:
                await self.client.delete_pending(job.prompt_id)
                await self.client.interrupt(job.prompt_id)
            except Exception:
                log.exception("could not withdraw unrecorded job %s", job.prompt_id)
            raise
        await self.tracker.submitted(job)
        log.info("job %s submitted (%s, %d nodes)", job.prompt_id, source, len(workflow))
        return job

    async def get(self, prompt_id: str) -> Job:
        job = await self.tracker.get(prompt_id)
        if job is None:
            raise JobNotFound(prompt_id)
        return job

    async def find(self, prompt_id: str) -> Job | None:
        """The job (from memory while live, else from the database); None for an unknown id."""
        return await self.tracker.get(prompt_id)

    def live_job(self, prompt_id: str) -> Job | None:
        """The job if the gateway follows it right now (in memory), else None; never reads the database."""
        return self.tracker.jobs.get(prompt_id)

    @property
    def active_count(self) -> int:
        """Jobs not finished yet."""
        return self.tracker.active_count

    def queue_position(self, job: Job) -> int | None:
        """0 while running, 1.. while pending (from the last /queue snapshot), None once finished."""
        return self.tracker.queue_position(job)

    async def refresh_queue(self) -> QueueSnapshot:
        """ComfyUI's queue now (ComfyError when it is down); also refreshes every job's position."""
        return await self.tracker.refresh_queue()

    def subscribe(self, prompt_id: str) -> AsyncIterator[dict[str, Any]]:
        """The job's public events from now on (a snapshot first), ending after `finished`."""
        return self.tracker.subscribe(prompt_id)

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
        """Pending: removed from the queue; running: interrupted by its id; finished: 409. Idempotent."""
        job = await self.get(prompt_id)
        if job.status is JobStatus.CANCELLED:
            return job
        if job.terminal:
            raise JobAlreadyFinished(
                f"job {prompt_id} already finished with status {job.status.value!r}; "
                "only pending or running jobs can be cancelled"
            )
        reason = JobError(message="cancelled by request", type="cancelled")
        if job.status is JobStatus.PENDING:
            await self.client.delete_pending(prompt_id)
            snapshot = await self.refresh_queue()
            if not snapshot.is_running(prompt_id):
                entry = await self.client.history(prompt_id)
                if entry is not None:  # it ended before the delete arrived
                    await self.tracker.settle_from_history(job, entry)
                    settled: JobStatus = job.status
                    if settled is not JobStatus.CANCELLED:
                        raise JobAlreadyFinished(
                            f"job {prompt_id} finished ({job.status.value}) before it could be cancelled"
                        )
                    return job
                await self.tracker.finish(job, JobStatus.CANCELLED, error=reason)
                return job
        await self.client.interrupt(prompt_id)
        if job.started_at is None:
            job.started_at = time.time()
        await self.tracker.finish(job, JobStatus.CANCELLED, error=reason)
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
