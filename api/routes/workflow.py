"""Workflow jobs: submit, batch, status, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import CatalogDep, JobsDep, SettingsDep
from api.errors import ApiError, BackendUnavailable, BadRequest, translate_comfy_error
from api.jobs.service import JobService
from api.responses import status_body
from api.schemas.workflow import (
    BatchItem,
    BatchRequest,
    BatchResponse,
    CancelResponse,
    StatusResponse,
    SubmitRequest,
    SubmitResponse,
)
from api.settings import Settings
from api.workflow_intake import api_graph

router = APIRouter(prefix="/api/workflow", tags=["workflow"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid workflow: `error` and `node_errors` in ComfyUI's shape"},
    413: {"description": "Request body too large"},
    422: {"description": "Malformed request"},
    503: {"description": "ComfyUI unreachable (see Retry-After)"},
}


async def to_api_graph(body: SubmitRequest, catalog: Any, settings: Settings) -> dict[str, Any]:
    """The API graph the request stands for, with its text prompt applied; 400 with a reason if none."""
    return await api_graph(body.workflow, body.prompt, catalog, settings)


def _record(body: SubmitRequest) -> dict[str, Any]:
    return body.model_dump(mode="json")


@router.post("/submit", response_model=SubmitResponse, responses=ERRORS, summary="Submit a ComfyUI workflow")
async def submit(
    body: SubmitRequest, jobs: JobsDep, catalog: CatalogDep, settings: SettingsDep
) -> SubmitResponse:
    graph = await to_api_graph(body, catalog, settings)
    job = await jobs.submit(graph, extra_data=body.extra_data or None, request=_record(body))
    # Always "pending" (the contract): events may have moved the job on before this answer is sent.
    return SubmitResponse(
        prompt_id=job.prompt_id, status="pending", message="Workflow submitted successfully"
    )


@router.post("/batch", response_model=BatchResponse, responses=ERRORS, summary="Submit several workflows")
async def batch(
    body: BatchRequest, jobs: JobsDep, catalog: CatalogDep, settings: SettingsDep
) -> BatchResponse:
    """Every workflow is checked first: if one is invalid nothing is submitted (400 lists each problem).
    Then each becomes one job; an item ComfyUI refuses or cannot take reports its own error."""
    graphs: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(body.workflows):
        try:
            graph = await to_api_graph(item, catalog, settings)
            await jobs.validate(graph)
            graphs.append(graph)
        except ApiError as exc:
            problems.append({"index": index, **exc.body()})
    if problems:
        raise BadRequest(
            f"{len(problems)} of {len(body.workflows)} workflows are invalid; nothing was submitted",
            extra={"errors": problems},
        )
    return BatchResponse(**await _submit_all(jobs, body, graphs))


async def _submit_all(jobs: JobService, body: BatchRequest, graphs: list[dict[str, Any]]) -> dict[str, Any]:
    from comfyui_client import ComfyError

    items: list[BatchItem] = []
    for index, (item, graph) in enumerate(zip(body.workflows, graphs, strict=True)):
        try:
            job = await jobs.submit(
                graph, extra_data=item.extra_data or None, request=_record(item), source="batch"
            )
            items.append(
                BatchItem(
                    index=index,
                    prompt_id=job.prompt_id,
                    status="pending",
                    message="Workflow submitted successfully",
                )
            )
        except (ApiError, ComfyError) as exc:
            err = exc if isinstance(exc, ApiError) else translate_comfy_error(exc)
            assert err is not None
            if isinstance(err, BackendUnavailable) and not items:
                raise err from exc  # nothing went through: the whole call is unavailable
            items.append(BatchItem(index=index, message=err.message, error=err.body()))
    ok = sum(1 for i in items if i.prompt_id)
    return {"jobs": items, "submitted": ok, "failed": len(items) - ok}


@router.get(
    "/status/{prompt_id}",
    response_model=StatusResponse,
    responses={404: {"description": "Unknown job"}},
    summary="Status, progress and outputs of a job",
)
async def status(prompt_id: str, request: Request, jobs: JobsDep, settings: SettingsDep) -> StatusResponse:
    job = await jobs.get(prompt_id)
    return status_body(job, settings, str(request.base_url), queue_position=jobs.queue_position(job))


@router.post(
    "/cancel/{prompt_id}",
    response_model=CancelResponse,
    summary="Cancel a pending or running job",
    responses={
        404: {"description": "Unknown job"},
        409: {"description": "The job already finished"},
        503: {"description": "ComfyUI unreachable"},
    },
)
async def cancel(prompt_id: str, jobs: JobsDep) -> CancelResponse:
    job = await jobs.cancel(prompt_id)
    return CancelResponse(
        prompt_id=job.prompt_id, status=job.status.value, message=f"job is {job.status.value}"
    )
