"""Health, queue and models: what the backend has and whether it answers."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from api.auth import ReadAccess, visible
from api.deps import CatalogsDep, ClientDep, JobsDep, ModelIndexDep, SettingsDep
from api.errors import RETRY_AFTER_SECONDS, NotFoundError
from api.model_index import ModelIndex
from api.redaction import redact
from api.routes import hot
from api.schemas.system import ComfyHealth, FolderModels, HealthResponse, ModelsResponse
from api.schemas.workflow import QueueResponse

log = logging.getLogger(__name__)

router = APIRouter(tags=["system"])
QUEUE_AGE_HEADER = "X-Queue-Age"


@router.get("/health/live", summary="Liveness: the gateway process answers (always 200)")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/health",
    response_model=HealthResponse,
    summary="Readiness: 200 when ComfyUI answers, else 503",
    responses={503: {"model": HealthResponse, "description": "ComfyUI unreachable"}},
)
async def health(
    client: ClientDep,
    jobs: JobsDep,
    settings: SettingsDep,
    catalogs: CatalogsDep,
    index: ModelIndexDep,
    _: ReadAccess,
) -> JSONResponse:
    comfy = ComfyHealth(reachable=False, url=redact(settings.comfyui_url))
    smoke = False
    try:
        stats, queue = await asyncio.gather(client.system_stats(), jobs.refresh_queue())
        system = stats.get("system") if isinstance(stats.get("system"), dict) else {}
        comfy = ComfyHealth(
            reachable=True,
            url=redact(settings.comfyui_url),
            version=str((system or {}).get("comfyui_version") or "") or None,
            queue_running=len(queue.running),
            queue_pending=len(queue.pending),
        )
        smoke = await _smoke_backend(index)
    except Exception as exc:
        comfy.error = redact(str(exc)) or type(exc).__name__
    catalog = catalogs.current()
    body = HealthResponse(
        status="ok" if comfy.reachable else "unavailable",
        comfyui=comfy,
        catalog={"source": catalogs.source, "nodes": len(catalog)},
        active_jobs=jobs.active_count,
        smoke_weights=smoke,
    )
    headers = None if comfy.reachable else {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse(
        body.model_dump(mode="json"), status_code=200 if comfy.reachable else 503, headers=headers
    )


async def _smoke_backend(index: ModelIndex) -> bool:
    """True when any model file the backend offers is a smoke-weight file (a listing error counts as no)."""
    try:
        return await index.any_smoke()
    except Exception as exc:
        log.debug("could not list model files for the smoke-weights flag: %s", exc)
        return False


@router.get(
    "/api/queue",
    response_model=QueueResponse,
    summary="ComfyUI's queue, pending in execution order (a non-admin key: its own jobs, others counted)",
    response_model_exclude_none=True,
    responses={
        200: {
            "headers": {
                QUEUE_AGE_HEADER: {
                    "description": "Seconds since ComfyUI's /queue answer this view is built on (the job "
                    "events since are applied)",
                    "schema": {"type": "number"},
                }
            }
        },
        503: {"description": "ComfyUI unreachable"},
    },
)
async def queue(jobs: hot.JobsDep, principal: hot.ReadAccess, response: Response) -> QueueResponse:
    """From the gateway's view of the queue, kept current by ComfyUI's events: no ComfyUI round trip per call
    (the age of the view is in the X-Queue-Age header; the body keeps the spec's fields)."""
    snapshot, age = await jobs.queue()
    response.headers[QUEUE_AGE_HEADER] = f"{age:.3f}"

    def mine(prompt_id: str) -> bool:
        if principal.is_admin:
            return True
        job = jobs.live_job(prompt_id)
        return job is not None and visible(principal, job.owner)

    def info(prompt_id: str, position: int) -> dict[str, Any]:
        job = jobs.live_job(prompt_id)
        out: dict[str, Any] = {"gateway_job": job is not None, "queue_position": position}
        if job is not None:
            out.update(status=job.status.value, source=job.source, progress=job.progress)
        return out

    running = [(i.number, i.prompt_id, info(i.prompt_id, 0)) for i in snapshot.running if mine(i.prompt_id)]
    pending = [
        (i.number, i.prompt_id, info(i.prompt_id, n))
        for n, i in enumerate(snapshot.pending, start=1)
        if mine(i.prompt_id)
    ]
    if principal.is_admin:
        return QueueResponse(running=running, pending=pending)
    return QueueResponse(
        running=running,
        pending=pending,
        others_running=len(snapshot.running) - len(running),
        others_pending=len(snapshot.pending) - len(pending),
    )


@router.get(
    "/api/models",
    response_model=ModelsResponse,
    summary="Model files of every folder (`?non_empty=true`: only folders holding files)",
    responses={503: {"description": "ComfyUI unreachable"}},
)
async def models(
    index: ModelIndexDep,
    _: ReadAccess,
    non_empty: Annotated[
        bool, Query(description="Leave out folders without files (default: every folder ComfyUI knows)")
    ] = False,
) -> ModelsResponse:
    """Every folder is listed by default, empty ones too, like ComfyUI's own /models: a client learns where a
    model file would go (and that the backend supports that kind of model) before any file is there."""
    folders = await index.all()
    if non_empty:
        folders = {name: files for name, files in folders.items() if files}
    return ModelsResponse(
        folders=folders, smoke_weights=any(m.smoke_weights for files in folders.values() for m in files)
    )


@router.get(
    "/api/models/{folder}",
    response_model=FolderModels,
    summary="Model files of one folder",
    responses={404: {"description": "Unknown folder"}, 503: {"description": "ComfyUI unreachable"}},
)
async def models_in(folder: str, index: ModelIndexDep, _: ReadAccess) -> FolderModels:
    from comfyui_client import NotFound

    try:
        files = await index.folder(folder)
    except NotFound as exc:
        raise NotFoundError(f"no model folder {folder!r} on ComfyUI (GET /api/models lists them)") from exc
    return FolderModels(folder=folder, models=files)
