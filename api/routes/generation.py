"""Plain-language generation: `POST /api/workflow/generate` (+ `/stream`, SSE), `POST /api/video/generate`.

Both run the app's one `pipeline.Generator`; submissions go through the `JobService` (a `JobsExecutor` per
request carries its body and source), so generated jobs are validated, recorded and followed exactly like
`POST /api/workflow/submit` ones.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from api.deps import ClientDep, GeneratorDep, JobsDep, SettingsDep
from api.errors import BadRequest, raise_for
from api.jobs.executor import JobsExecutor
from api.jobs.service import JobService
from api.responses import sse_message
from api.schemas.errors import error_responses
from api.schemas.generation import GenerateBody, GenerateResponse, VideoGenerateBody, VideoSubmitResponse
from comfyui_client import ComfyClient

log = logging.getLogger(__name__)
router = APIRouter(tags=["generation"])


def executor_for(jobs: JobService, client: ComfyClient, body: BaseModel, source: str) -> JobsExecutor:
    """The run's executor: its jobs are recorded with the request `body`, as `source`."""
    return JobsExecutor(jobs, client, request=body.model_dump(mode="json"), source=source)


@router.post(
    "/api/workflow/generate",
    response_model=GenerateResponse,
    summary="Generate a ComfyUI workflow from plain language (optionally submit it)",
    responses=error_responses(400, 422, 502, 503, 504),
)
async def generate(
    body: GenerateBody,
    settings: SettingsDep,
    generator: GeneratorDep,
    client: ClientDep,
    jobs: JobsDep,
) -> GenerateResponse:
    """Run the pipeline on a plain-language request; refused runs answer with an error and their thread_id."""
    executor = executor_for(jobs, client, body, "generate")
    result = await generator.generate(body.to_request(settings), executor=executor)
    raise_for(result)
    return GenerateResponse.model_validate(result.model_dump(exclude={"errors"}))


@router.post(
    "/api/workflow/generate/stream",
    summary="Generate a workflow, streaming each agent step as Server-Sent Events",
    response_class=StreamingResponse,
    responses=error_responses(503),
)
async def generate_stream(
    body: GenerateBody,
    settings: SettingsDep,
    generator: GeneratorDep,
    client: ClientDep,
    jobs: JobsDep,
) -> StreamingResponse:
    """The same run as POST /api/workflow/generate, one SSE message per agent step, then the result."""
    executor = executor_for(jobs, client, body, "generate")
    request = body.to_request(settings)

    async def events() -> AsyncIterator[str]:
        try:
            async for item in generator.stream(request, executor=executor):
                kind: Literal["step", "result"] = item["event"]
                yield sse_message(kind, item)
        except Exception as exc:  # the stream has started: report in-band, never a broken connection
            log.exception("generation stream failed")
            yield sse_message("error", {"detail": str(exc)})

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.post(
    "/api/video/generate",
    response_model=VideoSubmitResponse,
    summary="Generate and submit a HunyuanVideo video (the spec's request)",
    responses=error_responses(400, 422, 502, 503, 504),
)
async def video_generate(
    body: VideoGenerateBody,
    settings: SettingsDep,
    generator: GeneratorDep,
    client: ClientDep,
    jobs: JobsDep,
) -> VideoSubmitResponse:
    """Generate a HunyuanVideo workflow from the spec's request and submit it."""
    result = await generator.generate(
        body.to_request(settings), executor=executor_for(jobs, client, body, "video")
    )
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
