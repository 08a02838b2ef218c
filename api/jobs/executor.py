"""`JobsExecutor`: the pipeline's Executor on the API's JobService, so generated jobs are recorded like
submitted ones.

It keeps the Executor contract: the JobService's API errors become the client errors the pipeline handles
(`InvalidWorkflow` -> `PromptRejected`, so Refine repairs from the node errors; `JobWaitTimeout` ->
`ComfyTimeout`), and a finished job answers with its history entry and outcome, as `ComfyClient.wait_for`
would. A job the tracker failed as lost raises `JobLost` with the stream's own reason (the one verdict).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from api.errors import InvalidWorkflow
from api.jobs.service import JobService, JobWaitTimeout
from api.jobs.state import JobStatus
from comfyui_client import ComfyTimeout, ExecutionInterrupted, HistoryEntry, JobLost, PromptRejected

if TYPE_CHECKING:
    from api.jobs.idempotency import Idempotency
    from comfyui_client import ComfyClient

#: Seconds a finished job's history entry may take to appear (a job cancelled while running is marked
#: cancelled before ComfyUI has written its interrupted entry).
HISTORY_TIMEOUT = 5.0


class JobsExecutor:
    """`pipeline.Executor` over `JobService`: submit records the job, wait follows it through the tracker."""

    def __init__(
        self,
        jobs: JobService,
        client: ComfyClient,
        *,
        request: dict[str, Any],
        source: str,
        idempotency: Idempotency | None = None,
        owner: str | None = None,
    ) -> None:
        self.jobs, self.client, self.request, self.source = jobs, client, request, source
        self.owner = owner  # the API key name its jobs belong to
        # A run may submit again after a repair: the n-th submission of a retried run is the n-th job.
        self.idempotency = idempotency
        self.submissions = 0

    async def submit(self, workflow: dict[str, Any], *, extra_data: dict[str, Any] | None = None) -> str:
        try:
            self.submissions += 1
            keyed: dict[str, Any] = (
                {"idempotency": self.idempotency.attempt(self.submissions)} if self.idempotency else {}
            )
            job = await self.jobs.submit(
                workflow,
                extra_data=extra_data,
                request=self.request,
                source=self.source,
                owner=self.owner,
                **keyed,
            )
        except InvalidWorkflow as exc:
            error = exc.error or {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": exc.message,
                "extra_info": {},
            }
            raise PromptRejected(error, exc.node_errors) from exc
        return job.prompt_id

    async def wait(self, prompt_id: str, *, timeout: float) -> HistoryEntry:  # noqa: ASYNC109 (contract)
        try:
            job = await self.jobs.wait(prompt_id, timeout=timeout)
        except JobWaitTimeout as exc:
            raise ComfyTimeout(exc.message) from exc
        if job.status is JobStatus.TIMEOUT:
            raise ComfyTimeout(job.error.message if job.error else f"job {prompt_id} timed out")
        if job.error is not None and job.error.type == "job_lost":
            raise JobLost(prompt_id, job.error.message)
        if job.status is JobStatus.CANCELLED and job.started_at is None:
            raise ExecutionInterrupted(prompt_id)  # removed from the queue before it ran: no history
        # Read from the backend that ran it (in a fleet, not necessarily the primary one given here).
        client = self.jobs.client_of(job) if job.backend is not None else self.client
        entry = await client.history_after_finish(prompt_id, timeout=HISTORY_TIMEOUT)
        if entry is None:
            if job.status is JobStatus.CANCELLED:
                raise ExecutionInterrupted(prompt_id)
            raise JobLost(prompt_id)  # finished here, yet ComfyUI has no record of it: it forgot the job
        return entry.raise_for_outcome()
