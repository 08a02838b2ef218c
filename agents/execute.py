"""Execute: link list -> API workflow, full validation, submission through an `Executor`, following the job.

An `execution_error` is not raised: it is returned so the pipeline can hand it back to Refine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agents.linklist import LinkList, link_list_to_api
from comfyui_client import ComfyClient, ExecutionFailed, HistoryEntry
from node_catalog import Catalog, ValidationReport, validate


@runtime_checkable
class Executor(Protocol):
    """How Execute submits; the API injects one that records jobs in its database."""

    async def submit(self, workflow: dict[str, Any], *, extra_data: dict[str, Any] | None = None) -> str: ...

    async def wait(self, prompt_id: str, *, timeout: float) -> HistoryEntry: ...  # noqa: ASYNC109


class ClientExecutor:
    """An Executor straight on a `ComfyClient` (CLI, evals, tests)."""

    def __init__(self, client: ComfyClient) -> None:
        self.client = client

    async def submit(self, workflow: dict[str, Any], *, extra_data: dict[str, Any] | None = None) -> str:
        submitted = await self.client.submit(workflow, extra_data=extra_data)
        return submitted.prompt_id

    async def wait(self, prompt_id: str, *, timeout: float) -> HistoryEntry:  # noqa: ASYNC109
        return await self.client.wait_for(prompt_id, timeout=timeout)


def compile_workflow(doc: LinkList, catalog: Catalog) -> dict[str, dict[str, Any]]:
    """The API-format graph ComfyUI runs."""
    return link_list_to_api(doc, catalog)


def check(
    workflow: Mapping[str, Any], catalog: Catalog, models: Mapping[str, Sequence[str]] | None
) -> ValidationReport:
    return validate(workflow, catalog, models=models)


@dataclass
class ExecutionOutcome:
    prompt_id: str
    entry: HistoryEntry | None = None
    error: dict[str, Any] | None = None  # execution_error data when the job failed
    files: list[dict[str, Any]] = field(default_factory=list)


class ExecuteAgent:
    def __init__(self, executor: Executor, *, timeout: float = 600.0) -> None:
        self.executor = executor
        self.timeout = timeout

    async def run(
        self, workflow: dict[str, Any], *, wait: bool, extra_data: dict[str, Any] | None = None
    ) -> ExecutionOutcome:
        prompt_id = await self.executor.submit(workflow, extra_data=extra_data)
        if not wait:
            return ExecutionOutcome(prompt_id)
        try:
            entry = await self.executor.wait(prompt_id, timeout=self.timeout)
        except ExecutionFailed as exc:
            error = {
                "node_id": exc.node_id,
                "node_type": exc.node_type,
                "exception_type": exc.exception_type,
                "exception_message": exc.exception_message,
            }
            return ExecutionOutcome(prompt_id, entry=exc.entry, error=error)
        if entry.outcome == "error":
            return ExecutionOutcome(prompt_id, entry=entry, error=dict(entry.error or {}))
        files = [f.model_dump() for f in entry.files]
        return ExecutionOutcome(prompt_id, entry=entry, files=files)
