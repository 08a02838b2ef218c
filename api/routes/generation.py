"""Plain-language generation: `POST /api/workflow/generate` (+ `/stream`, SSE), `POST /api/video/generate`.

Both run the app's one `pipeline.Generator`; submissions go through the `JobService` (a `JobsExecutor` per
request carries its body and source), so generated jobs are validated, recorded and followed exactly like
`POST /api/workflow/submit` ones.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from api.auth import Principal, SubmitAccess
from api.deps import CheckpointsDep, ClientDep, GeneratorDep, JobsDep, SettingsDep, StoreDep
from api.errors import BadRequest, raise_for
from api.jobs.executor import JobsExecutor
from api.jobs.idempotency import IdempotencyKeyHeader, idempotency_for
from api.jobs.service import JobService
from api.limits import SUBMIT_RESPONSES, admit_jobs, note_jobs
from api.metrics import observe_steps
from api.responses import sse_message
from api.run_replay import RunStart, start_run
from api.schemas.errors import error_responses
from api.schemas.generation import GenerateBody, GenerateResponse, VideoGenerateBody, VideoSubmitResponse
from api.webhooks import check_webhook_url
from comfyui_client import ComfyClient

log = logging.getLogger(__name__)
router = APIRouter(tags=["generation"])


def executor_for(
    jobs: JobService,
    client: ComfyClient,
    body: BaseModel,
    source: str,
    principal: Principal,
    conn: Request | None = None,
    idempotency_key: str | None = None,
) -> JobsExecutor:
    """The run's executor: its jobs are recorded with the request `body`, as `source`, owned by the caller;
    with an Idempotency-Key a retried run returns the jobs of the first, never running them twice."""
    record = body.model_dump(mode="json")
    idempotency = idempotency_for(conn, idempotency_key, record) if conn is not None else None
    return JobsExecutor(
        jobs, client, request=record, source=source, idempotency=idempotency, owner=principal.owner
    )


async def replayed(start: RunStart) -> AsyncIterator[dict[str, Any]]:
    """A finished run's recorded steps, then its result: the stream a retried key gets."""
    assert start.replay is not None
    for step in start.replay.steps:
        yield {"event": "step", "node": step.get("agent"), "step": step}
    yield {"event": "result", "result": start.replay.model_dump(mode="json")}


@router.post(
    "/api/workflow/generate",
    response_model=GenerateResponse,
    summary="Generate a ComfyUI workflow from plain language (optionally submit it)",
    responses={**error_responses(400, 409, 422, 502, 503, 504), **SUBMIT_RESPONSES},
)
async def generate(
    body: GenerateBody,
    request: Request,
    settings: SettingsDep,
    generator: GeneratorDep,
    client: ClientDep,
    jobs: JobsDep,
    store: StoreDep,
    checkpoints: CheckpointsDep,
    principal: SubmitAccess,
    idempotency_key: IdempotencyKeyHeader = None,
) -> GenerateResponse:
    """Run the pipeline on a plain-language request; refused runs answer with an error and their thread_id."""
    caller = await admit_jobs(request)
    await check_webhook_url(body.webhook_url, settings)
    executor = executor_for(jobs, client, body, "generate", principal, request, idempotency_key)
    run = body.to_request(settings)
    start = await start_run(store, checkpoints, principal, run, executor.idempotency)
    result = start.replay or await generator.generate(run, executor=executor, thread_id=start.thread_id)
    observe_steps(request, result.steps)
    note_jobs(request, caller, result.prompt_id)
    raise_for(result)
    return GenerateResponse.model_validate(result.model_dump(exclude={"errors"}))


@router.post(
    "/api/workflow/generate/stream",
    summary="Generate a workflow, streaming each agent step as Server-Sent Events",
    response_class=StreamingResponse,
    responses={**error_responses(400, 409, 422, 503), **SUBMIT_RESPONSES},
)
async def generate_stream(
    body: GenerateBody,
    http_request: Request,
    settings: SettingsDep,
    generator: GeneratorDep,
    client: ClientDep,
    jobs: JobsDep,
    store: StoreDep,
    checkpoints: CheckpointsDep,
    principal: SubmitAccess,
    idempotency_key: IdempotencyKeyHeader = None,
) -> StreamingResponse:
    """The same run as POST /api/workflow/generate, one SSE message per agent step, then the result."""
    caller = await admit_jobs(http_request)
    await check_webhook_url(body.webhook_url, settings)
    executor = executor_for(jobs, client, body, "generate", principal, http_request, idempotency_key)
    request = body.to_request(settings)
    start = await start_run(store, checkpoints, principal, request, executor.idempotency)
    items = (
        replayed(start)
        if start.replay is not None
        else generator.stream(request, executor=executor, thread_id=start.thread_id)
    )

    async def events() -> AsyncIterator[str]:
        try:
            async for item in items:
                kind: Literal["step", "result"] = item["event"]
                if kind == "step":
                    observe_steps(http_request, [item["step"]])
                else:
                    note_jobs(http_request, caller, item["result"].get("prompt_id"))
                yield sse_message(kind, item)
        except Exception as exc:  # the stream has started: report in-band, never a broken connection
            log.exception("generation stream failed")
            yield sse_message("error", {"detail": str(exc)})

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.post(
    "/api/video/generate",
    response_model=VideoSubmitResponse,
    summary="Generate and submit a HunyuanVideo video (the spec's request)",
    responses={**error_responses(400, 409, 422, 502, 503, 504), **SUBMIT_RESPONSES},
)
async def video_generate(
    body: VideoGenerateBody,
    request: Request,
    settings: SettingsDep,
    generator: GeneratorDep,
    client: ClientDep,
    jobs: JobsDep,
    store: StoreDep,
    checkpoints: CheckpointsDep,
    principal: SubmitAccess,
    idempotency_key: IdempotencyKeyHeader = None,
) -> VideoSubmitResponse:
    """Generate a HunyuanVideo workflow from the spec's request and submit it."""
    caller = await admit_jobs(request)
    await check_webhook_url(body.webhook_url, settings)
    executor = executor_for(jobs, client, body, "video", principal, request, idempotency_key)
    run = body.to_request(settings)
    start = await start_run(store, checkpoints, principal, run, executor.idempotency)
    result = start.replay or await generator.generate(run, executor=executor, thread_id=start.thread_id)
    observe_steps(request, result.steps)
    note_jobs(request, caller, result.prompt_id)
    raise_for(result)
    if result.prompt_id is None:
        raise BadRequest(
            result.error or "the video could not be generated", extra={"thread_id": result.thread_id}
        )
    return VideoSubmitResponse(
        prompt_id=result.prompt_id,
        status="pending",
        message="Video generation submitted",
        thread_id=result.thread_id,
    )
