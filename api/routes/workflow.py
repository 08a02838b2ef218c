"""Workflow jobs: submit, batch, status, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api.auth import Principal, SubmitAccess, visible
from api.deps import CatalogDep, JobsDep, SettingsDep
from api.errors import ApiError, BackendUnavailable, BadRequest, JobNotFound, translate_comfy_error
from api.jobs.idempotency import IdempotencyKeyHeader, idempotency_for
from api.jobs.service import JobService
from api.jobs.state import Job
from api.limits import SUBMIT_RESPONSES, admit_jobs, note_jobs
from api.responses import status_body
from api.routes import hot
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
from api.webhooks import check_webhook_url, webhook_status
from api.workflow_intake import api_graph

router = APIRouter(prefix="/api/workflow", tags=["workflow"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid workflow: `error` and `node_errors` in ComfyUI's shape"},
    413: {"description": "Request body too large"},
    422: {"description": "Malformed request"},
    503: {"description": "ComfyUI unreachable (see Retry-After)"},
    **SUBMIT_RESPONSES,
}
SUBMIT_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    422: {"description": "Malformed request, or an Idempotency-Key reused with a different body"},
    503: {
        "description": "ComfyUI unreachable, the gateway's pending-job bound reached, the job database "
        "unavailable, or the submission unconfirmed (`submit_unconfirmed` / `not_submitted` carry the job's "
        "`prompt_id`; see Retry-After)"
    },
}


async def to_api_graph(
    body: SubmitRequest, catalog: Any, settings: Settings, size: str | None = None
) -> dict[str, Any]:
    """The API graph the request stands for, with its text prompt applied; 400 with a reason if none.
    `size`: the request's Content-Length (a small body is read on the event loop)."""
    return await api_graph(body.workflow, body.prompt, catalog, settings, size=size)


def _record(body: SubmitRequest) -> dict[str, Any]:
    """What a job keeps of its request: every field but the workflow, which it records once, as the API graph
    ComfyUI runs (a second copy per job doubled each tracked job's memory and every row write)."""
    return body.model_dump(mode="json", exclude={"workflow"})


async def owned_job(jobs: JobService, prompt_id: str, principal: Principal) -> Job:
    """The job, if the caller may see it; someone else's job is as unknown as a missing one (404)."""
    job = await jobs.get(prompt_id)
    if not visible(principal, job.owner):  # the error made only when raised: this runs on every status read
        raise JobNotFound(prompt_id)
    return job


@router.post(
    "/submit", response_model=SubmitResponse, responses=SUBMIT_ERRORS, summary="Submit a ComfyUI workflow"
)
async def submit(
    body: SubmitRequest,
    request: Request,
    response: Response,
    jobs: hot.JobsDep,  # async dependencies: a plain `def` one costs a thread hop per request
    catalog: hot.CatalogDep,
    settings: hot.SettingsDep,
    principal: hot.SubmitAccess,
    idempotency_key: IdempotencyKeyHeader = None,
) -> SubmitResponse:
    """Validate a workflow, record it and queue it on ComfyUI (an Idempotency-Key replays the first job)."""
    caller = await admit_jobs(request)
    await check_webhook_url(body.webhook_url, settings)
    record = _record(body)
    # The whole body is the key's fingerprint; dumped only when a key is given.
    idempotency = (
        idempotency_for(request, idempotency_key, body.model_dump(mode="json"))
        if idempotency_key is not None
        else None
    )
    graph = await to_api_graph(body, catalog, settings, request.headers.get("content-length"))
    job = await jobs.submit(
        graph,
        extra_data=body.extra_data or None,
        request=record,
        idempotency=idempotency,
        owner=principal.owner,
    )
    note_jobs(request, caller, job.prompt_id)
    if idempotency is not None and job.request is not record:  # an earlier request's job
        response.headers["Idempotent-Replayed"] = "true"
    # Always "pending" (the contract): events may have moved the job on before this answer is sent.
    return SubmitResponse(
        prompt_id=job.prompt_id, status="pending", message="Workflow submitted successfully"
    )


@router.post("/batch", response_model=BatchResponse, responses=ERRORS, summary="Submit several workflows")
async def batch(
    body: BatchRequest,
    request: Request,
    jobs: JobsDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    principal: SubmitAccess,
) -> BatchResponse:
    """Every workflow is checked first: if one is invalid nothing is submitted (400 lists each problem).
    Then each becomes one job; an item ComfyUI refuses or cannot take reports its own error."""
    caller = await admit_jobs(request, count=len(body.workflows))
    graphs: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(body.workflows):
        try:
            await check_webhook_url(item.webhook_url, settings)
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
    answer = BatchResponse(**await _submit_all(jobs, body, graphs, principal.owner))
    note_jobs(request, caller, *(item.prompt_id for item in answer.jobs))
    return answer


async def _submit_all(
    jobs: JobService, body: BatchRequest, graphs: list[dict[str, Any]], owner: str | None
) -> dict[str, Any]:
    from comfyui_client import ComfyError

    items: list[BatchItem] = []
    for index, (item, graph) in enumerate(zip(body.workflows, graphs, strict=True)):
        try:
            job = await jobs.submit(
                graph, extra_data=item.extra_data or None, request=_record(item), source="batch", owner=owner
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
    responses={404: {"description": "Unknown job (or another key's)"}},
    summary="Status, progress and outputs of a job",
)
async def status(
    prompt_id: str, request: Request, jobs: hot.JobsDep, settings: hot.SettingsDep, principal: hot.ReadAccess
) -> StatusResponse:
    """Status, progress, outputs and webhook deliveries of one of the caller's jobs.

    The hot path: the job comes from memory (live, or finished recently), its queue position from the
    tracker's queue view; the database is read only for a job no longer in memory."""
    job = await owned_job(jobs, prompt_id, principal)
    body = status_body(job, settings, str(request.base_url), queue_position=jobs.queue_position(job))
    webhook = await webhook_status(request, job)
    return body if webhook is None else body.model_copy(update={"webhook": webhook})


@router.post(
    "/cancel/{prompt_id}",
    response_model=CancelResponse,
    summary="Cancel a pending or running job",
    response_model_exclude_none=True,
    responses={
        202: {
            "description": "Cancel requested, not confirmed by ComfyUI yet (`cancel_requested: true`, the "
            "job's current status); it becomes `cancelled` once ComfyUI reports the interruption",
            "model": CancelResponse,
        },
        404: {"description": "Unknown job (or another key's)"},
        409: {"description": "The job already finished (also: it finished before the cancel took effect)"},
        503: {
            "description": "ComfyUI unreachable: `cancel_unconfirmed` with the job's `prompt_id`, current "
            "`status` and `cancel_requested: true`; the gateway asks again until ComfyUI confirms"
        },
    },
)
async def cancel(
    prompt_id: str, jobs: JobsDep, response: Response, principal: SubmitAccess
) -> CancelResponse:
    """200 `cancelled` only once ComfyUI confirmed the job's end (never at the mere asking)."""
    await owned_job(jobs, prompt_id, principal)
    job = await jobs.cancel(prompt_id)
    if not job.terminal:
        response.status_code = 202
        return CancelResponse(
            prompt_id=job.prompt_id,
            status=job.status.value,
            message=f"cancel requested; ComfyUI has not confirmed it yet: the job is {job.status.value}",
            cancel_requested=True,
        )
    return CancelResponse(
        prompt_id=job.prompt_id, status=job.status.value, message=f"job is {job.status.value}"
    )
