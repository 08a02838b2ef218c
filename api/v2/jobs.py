"""Comfy API v2 jobs: submit, get, workflow, cancel, events (SSE), over the gateway's `JobService`.

`Idempotency-Key` is single-use as the contract says (reject-on-duplicate): the key is stored on the job row
(caller-scoped, `v2:` namespace) with a fingerprint no later request can match, so any reuse is a 422
`idempotency_key_reuse`; a refused submission stores nothing and a job ComfyUI never received frees its key
(both `JobService.submit`). Natural language: the contract's job body is an open object, so the gateway
reads one extension, `generate` (the body of `POST /api/workflow/generate`, with `workflow: {}`): the
pipeline builds, validates and submits the graph and the answer is that job.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, ReadAccess, SubmitAccess, visible
from api.deps import CatalogDep, ClientDep, FleetDep, GeneratorDep, JobsDep, SettingsDep, StoreDep
from api.errors import JobAlreadyFinished, raise_for
from api.jobs.errors import CancelUnconfirmed
from api.jobs.executor import JobsExecutor
from api.jobs.idempotency import Idempotency, IdempotencyKeyHeader, idempotency_for
from api.jobs.service import JobService
from api.jobs.state import Job, JobStatus
from api.jobs.store import JobStore
from api.limits import admit_jobs, note_jobs
from api.responses import sse_message
from api.run_replay import new_run
from api.schemas.generation import GenerateBody
from api.settings import Settings
from api.v2.deps import AssetsDep, BaseUrlDep
from api.v2.errors import InvalidRequest, ListingNotServed, NotFound
from api.v2.intake import check_format, substitute_assets
from api.v2.store import AssetStore
from api.v2.views import job_body, output_asset, output_body, progress_of, queue_position_of, status_of
from api.workflow_intake import api_graph
from comfyui_client import ComfyClient
from pipeline import Generator

router = APIRouter(prefix="/api/v2/jobs", tags=["comfy-api-v2"])

HEARTBEAT_SECONDS = 15.0
RESERVED = ("webhook_url", "inputs")
MAX_LABELS = 16


class ExtraData(BaseModel):
    """Closed, as the contract says; forwarded to ComfyUI with the prompt, never stored or logged."""

    model_config = ConfigDict(extra="forbid")
    api_key_comfy_org: str | None = Field(None, max_length=4096)


class SubmitBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    workflow: dict[str, Any]
    extra_data: ExtraData | None = None
    metadata: dict[str, Annotated[str, Field(max_length=256)]] | None = None
    generate: GenerateBody | None = Field(
        None, description="Gateway extension: a plain-language request; the job runs the generated graph"
    )


async def _job_or_404(jobs: JobService, job_id: str, principal: Principal) -> Job:
    job = await jobs.find(job_id) if len(job_id) <= 64 else None
    if job is None or not visible(principal, job.owner):
        raise NotFound(f"no job {job_id!r}")
    return job


async def _body(job: Job, jobs: JobService, assets: AssetStore, base_url: str) -> dict[str, Any]:
    """The job's v2 body; its outputs are read from the backend that ran it."""
    return await job_body(job, jobs.queue_position(job), assets, jobs.client_of(job), base_url)


def _single_use(request: Request, key: str | None) -> Idempotency | None:
    """The v2 key: caller-scoped, in its own namespace, with a fingerprint no other request has."""
    checked = idempotency_for(request, key, None)
    if checked is None:
        return None
    # Hashed: caller name + a 255-character key would not fit the column the spec routes' keys share.
    return Idempotency(f"v2:{hashlib.sha256(checked.key.encode()).hexdigest()}", uuid.uuid4().hex)


@router.post("", status_code=201)
async def submit_job(
    body: SubmitBody,
    request: Request,
    jobs: JobsDep,
    client: ClientDep,
    fleet: FleetDep,
    catalog: CatalogDep,
    settings: SettingsDep,
    assets: AssetsDep,
    base_url: BaseUrlDep,
    principal: SubmitAccess,
    generator: GeneratorDep,
    store: StoreDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    reserved = [name for name in RESERVED if name in (body.model_extra or {})]
    if reserved:
        raise InvalidRequest(f"{', '.join(reserved)}: reserved by the Comfy API v2 and not accepted yet")
    if body.metadata is not None and len(body.metadata) > MAX_LABELS:
        raise InvalidRequest(f"metadata holds {len(body.metadata)} labels; at most {MAX_LABELS}")
    idempotency = _single_use(request, idempotency_key)
    record = {"api": "v2", "metadata": body.metadata}
    forward = body.extra_data.model_dump(exclude_none=True) if body.extra_data else None
    caller = await admit_jobs(request)
    if body.generate is not None:
        job = await _generate(
            body.generate, request, jobs, client, settings, generator, store, principal, idempotency
        )
    else:
        check_format(body.workflow)
        workflow = await substitute_assets(body.workflow, principal, assets, fleet)
        graph = await api_graph(workflow, None, catalog, settings)
        job = await jobs.submit(
            graph,
            request=record,
            source="v2",
            idempotency=idempotency,
            owner=principal.owner,
            forward_extra_data=forward or None,
        )
    note_jobs(request, caller, job.prompt_id)
    return JSONResponse(await _body(job, jobs, assets, base_url), status_code=201)


async def _generate(
    spec: GenerateBody,
    request: Request,
    jobs: JobService,
    client: ComfyClient,
    settings: Settings,
    generator: Generator,
    store: JobStore,
    principal: Principal,
    idempotency: Idempotency | None,
) -> Job:
    """Run the generation pipeline (submitting what it builds); its job is this request's job."""
    spec = spec.model_copy(update={"submit": True})
    executor = JobsExecutor(
        jobs,
        client,
        request={"api": "v2", "generate": spec.model_dump(mode="json")},
        source="generate",
        idempotency=idempotency,
        owner=principal.owner,
    )
    # v2 keys are single-use (the executor's key refuses a reuse): no replay of the run itself
    run = await new_run(store, principal)
    result = await generator.generate(spec.to_request(settings), executor=executor, thread_id=run.thread_id)
    raise_for(result)
    if result.prompt_id is None:
        raise InvalidRequest(
            result.error or "the request generated no job", extra={"thread_id": run.thread_id}
        )
    return await jobs.get(result.prompt_id)


@router.get("")
async def list_jobs(_: ReadAccess) -> None:
    """The SDK's `list_jobs`: not in the 2.0.0 contract (405, and a message that says so)."""
    raise ListingNotServed(
        "listing jobs is not part of the Comfy API v2 contract this gateway serves (2.0.0); keep the ids "
        "POST /api/v2/jobs returns, or list them with GET /api/queue"
    )


@router.get("/{job_id}")
async def get_job(
    job_id: str,
    jobs: JobsDep,
    assets: AssetsDep,
    base_url: BaseUrlDep,
    principal: ReadAccess,
) -> dict[str, Any]:
    return await _body(await _job_or_404(jobs, job_id, principal), jobs, assets, base_url)


@router.get("/{job_id}/workflow")
async def get_job_workflow(job_id: str, jobs: JobsDep, principal: ReadAccess) -> dict[str, Any]:
    """Always `format: api`: the graph the job ran (asset references already file names; no extra_data)."""
    job = await _job_or_404(jobs, job_id, principal)
    return {"workflow": job.workflow, "format": "api"}


@router.post("/{job_id}/cancel")
async def cancel_job(
    job_id: str,
    jobs: JobsDep,
    assets: AssetsDep,
    base_url: BaseUrlDep,
    principal: SubmitAccess,
) -> dict[str, Any]:
    """Idempotent: a finished job is returned as it is; an unconfirmed cancel answers `canceling`."""
    job = await _job_or_404(jobs, job_id, principal)
    if not job.terminal:
        # Unconfirmed (ComfyUI unreachable): the end stays requested and the tracker keeps asking.
        with contextlib.suppress(JobAlreadyFinished, CancelUnconfirmed):
            job = await jobs.cancel(job_id)
        job = await jobs.get(job_id)
    return await _body(job, jobs, assets, base_url)


@router.get("/{job_id}/events")
async def job_events(
    job_id: str,
    jobs: JobsDep,
    assets: AssetsDep,
    base_url: BaseUrlDep,
    principal: ReadAccess,
) -> StreamingResponse:
    """`status` (on connect and at every transition, the terminal one last), `progress` snapshots,
    `output` as each file is saved. A finished job gets its terminal `status` at once."""
    await _job_or_404(jobs, job_id, principal)

    async def body() -> AsyncIterator[str]:
        events = _frames(jobs, job_id, assets, base_url).__aiter__()
        nxt: asyncio.Task[str] | None = None
        try:
            while True:
                nxt = nxt or asyncio.ensure_future(events.__anext__())
                done, _ = await asyncio.wait({nxt}, timeout=HEARTBEAT_SECONDS)
                if not done:
                    yield ": keep-alive\n\n"
                    continue
                try:
                    frame = nxt.result()
                except StopAsyncIteration:
                    return
                nxt = None
                yield frame
        finally:
            if nxt is not None:
                nxt.cancel()
            with contextlib.suppress(Exception):
                await events.aclose()  # type: ignore[attr-defined]

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _frames(jobs: JobService, job_id: str, assets: AssetStore, base_url: str) -> AsyncIterator[str]:
    """The gateway's job events (`JobService.subscribe`: a snapshot first, ends after `finished`) as v2's.

    The status sent is the one each event carries (events are read after the job may have moved on), and
    the terminal status comes last, after every output: it ends the client's stream. On connect the outputs
    saved so far are sent too, so a client that connects late (even after the end) still sees them."""
    from comfyui_client import OutputRef

    last_status: str | None = None
    sent: set[str] = set()
    first = True
    async for ev in jobs.subscribe(job_id):
        job = jobs.live_job(job_id) or await jobs.find(job_id)
        if job is None:
            return
        kind = ev["event"]
        status = status_of(job, JobStatus(ev["status"]))
        if kind != "finished" and status != last_status:
            last_status = status
            position = queue_position_of(job, jobs.queue_position(job), JobStatus(ev["status"]))
            yield sse_message("status", {"status": status, "queue_position": position})
        if kind in ("queued", "started", "progress", "node") and (progress := progress_of(job)) is not None:
            yield sse_message("progress", progress)
        refs = list(job.outputs) if first else []
        if kind == "output" and isinstance(ev.get("output"), dict):
            refs.append(OutputRef.from_dict(ev["output"]))
        first = False
        for ref in refs:
            row = await output_asset(job, ref, assets, jobs.client_of(job))
            if row is not None and row.id not in sent:
                sent.add(row.id)
                yield sse_message("output", output_body(row, base_url))
        if kind == "finished":
            yield sse_message("status", {"status": status, "queue_position": None})
