"""The pipeline's Executor on the API's JobService: generated jobs are recorded like submitted ones."""

from __future__ import annotations

from typing import Any

from api.errors import InvalidWorkflow
from api.jobs.service import JobService, JobWaitTimeout
from api.jobs.state import JobStatus
from api.jobs.tracker import LOST_REASON
from comfyui_client import (
    ComfyClient,
    ComfyTimeout,
    ExecutionInterrupted,
    HistoryEntry,
    JobLost,
    PromptRejected,
)


class JobsExecutor:
    """The pipeline's Executor on the API's JobService: generated jobs are recorded like submitted ones.

    It keeps the Executor contract: the JobService's API errors become the client errors the pipeline handles
    (`InvalidWorkflow` -> `PromptRejected`, so Refine repairs from the node errors; `JobWaitTimeout` ->
    `ComfyTimeout`), and a finished job answers with its history entry and outcome, as `wait_for` would.
    """

    def __init__(
        self, jobs: JobService, client: ComfyClient, *, request: dict[str, Any], source: str
    ) -> None:
        self.jobs, self.client, self.request, self.source = jobs, client, request, source

    async def submit(self, workflow: dict[str, Any], *, extra_data: dict[str, Any] | None = None) -> str:
        try:
            job = await self.jobs.submit(
                workflow, extra_data=extra_data, request=self.request, source=self.source
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
        # the job is terminal: its history entry (outputs, execution_error data) is there to read
        entry = await self.client.history(prompt_id)
        if entry is None:
            if job.status is JobStatus.CANCELLED:  # removed from the queue before it ran: no history
                raise ExecutionInterrupted(prompt_id)
            reason = job.error.message if job.error and job.error.type == "job_lost" else LOST_REASON
            raise JobLost(prompt_id, reason)
        return entry.raise_for_outcome()
