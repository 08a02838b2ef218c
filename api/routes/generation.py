"""Plain-language generation: `POST /api/workflow/generate` (+ `/stream`, SSE), `POST /api/video/generate`.

Both run the pipeline (`pipeline.Generator`); submissions go through the `JobService`, so generated jobs are
validated, recorded and followed exactly like `POST /api/workflow/submit` ones.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CatalogDep, ClientDep, JobsDep, SettingsDep
from api.errors import ApiError, BackendError, BackendUnavailable, BadRequest, InvalidWorkflow
from api.jobs.service import JobService, JobWaitTimeout
from api.jobs.state import JobStatus
from api.jobs.tracker import LOST_REASON
from api.responses import sse_message
from api.schemas.workflow import SubmitResponse
from api.settings import Settings
from comfyui_client import (
    ComfyClient,
    ComfyTimeout,
    ExecutionInterrupted,
    HistoryEntry,
    JobLost,
    PromptRejected,
)
from node_catalog import Catalog
from pipeline import GenerationRequest, GenerationResult, Generator, TemplateLibrary

log = logging.getLogger(__name__)
router = APIRouter(tags=["generation"])


class UnprocessableGeneration(ApiError):
    """The request was understood but no valid workflow could be made from it (422)."""

    status_code = 422
    code = "generation_failed"


class VideoSubmitResponse(SubmitResponse):
    """`/api/workflow/submit`'s answer, plus the generation run that made the workflow."""

    thread_id: str | None = Field(None, description="The run's id: GET /api/workflow/generate/{thread_id}")


class LLMBackendError(ApiError):
    status_code = 502
    code = "llm_error"


class LLMBackendUnavailable(BackendUnavailable):
    code = "llm_unavailable"


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


class GenerateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=4000, examples=["a cat surfing, 3 seconds, 720p"])
    submit: bool = False
    wait: bool = Field(False, description="Follow the job to its end; execution errors are then repaired")
    task: str | None = None
    duration: float | None = Field(None, gt=0, le=600)
    resolution: str | None = Field(None, examples=["720p", "512x512", "16:9", "vertical"])
    style: str | None = None
    fps: float | None = Field(None, gt=0, le=120)
    seed: int | None = Field(None, ge=0)
    steps: int | None = Field(None, ge=1, le=1000)
    negative_prompt: str | None = None
    input_image: str | None = None
    template: str | None = None
    extra_params: dict[str, Any] = Field(default_factory=dict)
    max_repairs: int = Field(3, ge=0, le=10)
    timeout: float = Field(600.0, gt=0, le=3600)


class GenerateResponse(BaseModel):
    workflow: dict[str, Any] | None
    link_list: dict[str, Any] | None
    intent: dict[str, Any] | None
    template: str | None
    validation: dict[str, Any] | None
    steps: list[dict[str, Any]]
    repairs: list[dict[str, Any]]
    prompt_id: str | None
    status: str
    outputs: list[dict[str, Any]]
    error: str | None
    error_code: str | None
    thread_id: str | None = Field(None, description="The run's id: GET /api/workflow/generate/{thread_id}")


class VideoGenerateBody(BaseModel):
    """Exactly the spec's request; the structured fields win over what the text says."""

    prompt: str = Field(min_length=1, max_length=4000, examples=["A beautiful sunset over mountains"])
    duration: float | None = Field(None, gt=0, le=600, examples=[5])
    resolution: str | None = Field(None, examples=["512x512"])
    style: str | None = Field(None, examples=["cinematic"])
    extra_params: dict[str, Any] = Field(default_factory=dict)


def template_library(http: Request, settings: Settings) -> TemplateLibrary:
    """Bundled plus the user's templates, loaded once per app."""
    library: TemplateLibrary | None = getattr(http.app.state, "template_library", None)
    if library is None:
        library = TemplateLibrary.load(settings.templates_dir)
        http.app.state.template_library = library
    return library


def make_generator(
    http: Request,
    settings: Settings,
    catalog: Catalog,
    client: ComfyClient,
    jobs: JobService,
    body: BaseModel,
    source: str,
) -> Generator:
    """A Generator whose jobs are recorded by the app's JobService (with the request `body`, as `source`)."""
    return Generator(
        catalog,
        llm=settings.llm_config(),
        executor=JobsExecutor(jobs, client, request=body.model_dump(mode="json"), source=source),
        client=client,
        # the app's one saver (api.checkpoints): each run is recorded under its thread_id
        checkpointer=getattr(http.app.state, "checkpoints", None),
        templates=template_library(http, settings),
    )


def to_request(body: GenerateBody, settings: Settings) -> GenerationRequest:
    fields = (
        "task",
        "duration",
        "resolution",
        "style",
        "fps",
        "seed",
        "steps",
        "negative_prompt",
        "input_image",
    )
    overrides: dict[str, Any] = {k: getattr(body, k) for k in fields if getattr(body, k) is not None}
    if body.extra_params:
        overrides["extra_params"] = body.extra_params
    return GenerationRequest(
        prompt=body.prompt,
        submit=body.submit,
        wait=body.wait,
        overrides=overrides,
        template=body.template,
        max_repairs=min(body.max_repairs, settings.max_repair_attempts) if body.max_repairs else 0,
        timeout=min(body.timeout, settings.workflow_timeout),
    )


def video_request(body: VideoGenerateBody, settings: Settings) -> GenerationRequest:
    """The spec's video request: a HunyuanVideo task, submitted, with the configured repair budget."""
    overrides: dict[str, Any] = {"video": True}
    for key in ("duration", "resolution", "style"):
        if getattr(body, key) is not None:
            overrides[key] = getattr(body, key)
    if body.extra_params:
        overrides["extra_params"] = body.extra_params
    return GenerationRequest(
        prompt=body.prompt, submit=True, overrides=overrides, max_repairs=settings.max_repair_attempts
    )


def raise_for(result: GenerationResult) -> None:
    """Turn a run that produced no usable workflow into the API error the user can act on.

    Every such answer carries the run's `thread_id` (GET /api/workflow/generate/{thread_id} shows its steps).
    """
    if result.error is None or result.error_code in {"execution_failed", None}:
        return
    code = result.error_code
    run = {"thread_id": result.thread_id}
    err: ApiError
    if code == "llm_unavailable":
        err = LLMBackendUnavailable(result.error, extra=run)
    elif code == "llm_error":
        err = LLMBackendError(result.error, extra=run)
    elif code == "backend_unavailable":
        err = BackendUnavailable(result.error, extra=run)
    elif code == "backend_error":
        err = BackendError(result.error, extra=run)
    elif code == "invalid_workflow" and result.validation:
        err = InvalidWorkflow.from_comfy_body(result.validation)
        err.extra.update(run)
    else:
        err = UnprocessableGeneration(
            result.error,
            extra={
                "steps": result.steps,
                "intent": result.intent,
                "validation": result.validation,
                **run,
            },
        )
    raise err


@router.post(
    "/api/workflow/generate",
    response_model=GenerateResponse,
    summary="Generate a ComfyUI workflow from plain language (optionally submit it)",
    responses={422: {"description": "Not understood, or no valid workflow could be made"}},
)
async def generate(
    body: GenerateBody,
    http: Request,
    settings: SettingsDep,
    catalog: CatalogDep,
    client: ClientDep,
    jobs: JobsDep,
) -> GenerateResponse:
    async with make_generator(http, settings, catalog, client, jobs, body, "generate") as generator:
        result = await generator.generate(to_request(body, settings))
    raise_for(result)
    return GenerateResponse.model_validate(result.model_dump(exclude={"errors"}))


@router.post(
    "/api/workflow/generate/stream",
    summary="Generate a workflow, streaming each agent step as Server-Sent Events",
    response_class=StreamingResponse,
)
async def generate_stream(
    body: GenerateBody,
    http: Request,
    settings: SettingsDep,
    catalog: CatalogDep,
    client: ClientDep,
    jobs: JobsDep,
) -> StreamingResponse:
    generator = make_generator(http, settings, catalog, client, jobs, body, "generate")
    request = to_request(body, settings)

    async def events() -> AsyncIterator[str]:
        try:
            async for item in generator.stream(request):
                kind: Literal["step", "result"] = item["event"]
                yield sse_message(kind, item)
        except Exception as exc:  # the stream has started: report in-band, never a broken connection
            log.exception("generation stream failed")
            yield sse_message("error", {"detail": str(exc)})
        finally:
            await generator.aclose()

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.post(
    "/api/video/generate",
    response_model=VideoSubmitResponse,
    summary="Generate and submit a HunyuanVideo video (the spec's request)",
    responses={422: {"description": "No valid workflow could be made"}, 503: {"description": "ComfyUI down"}},
)
async def video_generate(
    body: VideoGenerateBody,
    http: Request,
    settings: SettingsDep,
    catalog: CatalogDep,
    client: ClientDep,
    jobs: JobsDep,
) -> VideoSubmitResponse:
    async with make_generator(http, settings, catalog, client, jobs, body, "video") as generator:
        result = await generator.generate(video_request(body, settings))
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
