"""Health, queue and models: what the backend has and whether it answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from api.auth import ReadAccess, visible
from api.deps import CatalogsDep, FleetDep, JobsDep, ModelIndexDep
from api.errors import RETRY_AFTER_SECONDS, NotFoundError
from api.fleet import Backend, Fleet
from api.jobs.service import JobService
from api.model_index import ModelIndex
from api.redaction import redact
from api.routes import hot
from api.schemas.system import (
    BackendHealth,
    ComfyHealth,
    FolderModels,
    HealthResponse,
    ModelFile,
    ModelsResponse,
)
from api.schemas.workflow import QueueResponse

if TYPE_CHECKING:
    from comfyui_client import QueueSnapshot

log = logging.getLogger(__name__)

router = APIRouter(tags=["system"])
QUEUE_AGE_HEADER = "X-Queue-Age"


@router.get("/health/live", summary="Liveness: the gateway process answers (always 200)")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/health",
    response_model=HealthResponse,
    summary="Readiness: 200 when a ComfyUI backend answers, else 503",
    responses={503: {"model": HealthResponse, "description": "No ComfyUI backend reachable"}},
)
async def health(
    fleet: FleetDep,
    jobs: JobsDep,
    catalogs: CatalogsDep,
    index: ModelIndexDep,
    _: ReadAccess,
) -> JSONResponse:
    """`comfyui` is the primary backend (the only one without COMFYUI_URLS); `backends` lists each."""
    # With several backends, a hung one must not hold the answer up to the full ComfyUI timeout.
    limit = fleet.check_timeout if len(fleet.backends) > 1 else None
    checks = await asyncio.gather(*(_check(b, jobs, limit) for b in fleet.backends))
    comfy = checks[0][0]
    reachable = any(c.reachable for c, _ in checks)
    smoke = await _smoke_backend(index) if comfy.reachable else False
    catalog = catalogs.current()
    body = HealthResponse(
        status="ok" if reachable else "unavailable",
        comfyui=comfy,
        catalog={"source": catalogs.source, "nodes": len(catalog)},
        active_jobs=jobs.active_count,
        smoke_weights=smoke,
        backends=[view for _, view in checks],
    )
    headers = None if reachable else {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if reachable else 503, headers=headers)


async def _smoke_backend(index: ModelIndex) -> bool:
    """True when any model file the backend offers is a smoke-weight file (a listing error counts as no)."""
    try:
        return await index.any_smoke()
    except Exception as exc:
        log.debug("could not list model files for the smoke-weights flag: %s", exc)
        return False


async def _check(
    backend: Backend, jobs: JobService, limit: float | None
) -> tuple[ComfyHealth, BackendHealth]:
    """Ask one backend now (its /system_stats and /queue), within `limit` seconds when given."""
    url = redact(backend.spec.url)
    comfy = ComfyHealth(reachable=False, url=url)
    try:
        async with asyncio.timeout(limit):
            stats, queue = await asyncio.gather(
                backend.client.system_stats(), jobs.refresh_queue(backend.lane)
            )
        system = stats.get("system") if isinstance(stats.get("system"), dict) else {}
        comfy = ComfyHealth(
            reachable=True,
            url=url,
            version=str((system or {}).get("comfyui_version") or "") or None,
            queue_running=len(queue.running),
            queue_pending=len(queue.pending),
        )
    except TimeoutError:
        comfy.error = f"no answer within {limit:g} s"
    except Exception as exc:
        comfy.error = redact(str(exc)) or type(exc).__name__
    view = BackendHealth(
        **backend.view(),
        reachable=comfy.reachable,
        queue_running=comfy.queue_running,
        queue_pending=comfy.queue_pending,
    )
    if comfy.error and not view.error:
        view.error = comfy.error
    return comfy, view


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
    (the age of the view is in the X-Queue-Age header; the body keeps the spec's fields). With several
    backends: every backend's queue, each entry naming its backend, and `backends` with each one's counts."""
    fleet = jobs.placement if isinstance(jobs.placement, Fleet) else None  # set with several backends
    several = fleet is not None
    views = await _queues(jobs, fleet)
    response.headers[QUEUE_AGE_HEADER] = f"{max(age for _, snap, age, _ in views if snap is not None):.3f}"

    def mine(prompt_id: str) -> bool:
        if principal.is_admin:
            return True
        job = jobs.live_job(prompt_id)
        return job is not None and visible(principal, job.owner)

    def info(prompt_id: str, position: int, backend: Backend | None) -> dict[str, Any]:
        job = jobs.live_job(prompt_id)
        out: dict[str, Any] = {"gateway_job": job is not None, "queue_position": position}
        if backend is not None:
            out["backend"] = backend.name
        if job is not None:
            out.update(status=job.status.value, source=job.source, progress=job.progress)
        return out

    running: list[Any] = []
    pending: list[Any] = []
    total_running = total_pending = 0
    for backend, snapshot, _, _ in views:
        if snapshot is None:
            continue
        total_running += len(snapshot.running)
        total_pending += len(snapshot.pending)
        running += [
            (i.number, i.prompt_id, info(i.prompt_id, 0, backend))
            for i in snapshot.running
            if mine(i.prompt_id)
        ]
        pending += [
            (i.number, i.prompt_id, info(i.prompt_id, n, backend))
            for n, i in enumerate(snapshot.pending, start=1)
            if mine(i.prompt_id)
        ]
    per_backend = (
        [_queue_view(b, snap, age, e) for b, snap, age, e in views if b is not None] if several else None
    )
    if principal.is_admin:
        return QueueResponse(running=running, pending=pending, backends=per_backend)
    return QueueResponse(
        running=running,
        pending=pending,
        others_running=total_running - len(running),
        others_pending=total_pending - len(pending),
        backends=per_backend,
    )


async def _queues(
    jobs: JobService, fleet: Fleet | None
) -> list[tuple[Backend | None, QueueSnapshot | None, float, str | None]]:
    """Each backend's queue view and its age; a backend that cannot be asked has none (its error instead).
    None answering: the first one's error (503, as ComfyUI's)."""
    if fleet is None:
        snapshot, age = await jobs.queue()
        return [(None, snapshot, age, None)]
    # A drained backend is not asked (it may hang until the timeout); asked anyway when none is healthy.
    asked = [b for b in fleet.backends if b.healthy] or fleet.backends
    answers = await asyncio.gather(*(jobs.queue(b.lane) for b in asked), return_exceptions=True)
    errors = [a for a in answers if isinstance(a, BaseException)]
    if len(errors) == len(answers):
        raise errors[0]
    by_name = dict(zip((b.name for b in asked), answers, strict=True))
    views: list[tuple[Backend | None, QueueSnapshot | None, float, str | None]] = []
    for backend in fleet.backends:
        answer = by_name.get(backend.name)
        if answer is None:
            views.append((backend, None, 0.0, backend.error or "drained"))
        elif isinstance(answer, BaseException):
            if not isinstance(answer, Exception):
                raise answer
            views.append((backend, None, 0.0, redact(str(answer)) or type(answer).__name__))
        else:
            views.append((backend, answer[0], answer[1], None))
    return views


def _queue_view(
    backend: Backend, snap: QueueSnapshot | None, age: float, error: str | None
) -> dict[str, Any]:
    return {
        "name": backend.name,
        "healthy": backend.healthy,
        "running": len(snap.running) if snap is not None else None,
        "pending": len(snap.pending) if snap is not None else None,
        "queue_age": round(age, 3) if snap is not None else None,
        "error": error,
    }


@router.get(
    "/api/models",
    response_model=ModelsResponse,
    summary="Model files of every folder (`?non_empty=true`: only folders holding files)",
    responses={503: {"description": "ComfyUI unreachable"}},
)
async def models(
    index: ModelIndexDep,
    fleet: FleetDep,
    _: ReadAccess,
    non_empty: Annotated[
        bool, Query(description="Leave out folders without files (default: every folder ComfyUI knows)")
    ] = False,
) -> ModelsResponse:
    """Every folder is listed by default, empty ones too, like ComfyUI's own /models: a client learns where a
    model file would go (and that the backend supports that kind of model) before any file is there. With
    several backends, `folders` is their union and `backends` each one's."""
    per_backend: dict[str, dict[str, list[ModelFile]]] | None = None
    if len(fleet.backends) == 1:
        folders = await index.all()
    else:
        per_backend = await _fleet_models(fleet)
        folders = _union(per_backend.values())
    if non_empty:
        folders = {name: files for name, files in folders.items() if files}
        if per_backend is not None:
            per_backend = {b: {n: f for n, f in fs.items() if f} for b, fs in per_backend.items()}
    return ModelsResponse(
        folders=folders,
        smoke_weights=any(m.smoke_weights for files in folders.values() for m in files),
        backends=per_backend,
    )


async def _fleet_models(fleet: Fleet) -> dict[str, dict[str, list[ModelFile]]]:
    """Each answering (healthy) backend's folders; none answering: the first one's error (503)."""
    asked = [b for b in fleet.backends if b.healthy] or fleet.backends  # drained ones may hang: not asked
    answers = await asyncio.gather(*(b.models.all() for b in asked), return_exceptions=True)
    listed = {b.name: a for b, a in zip(asked, answers, strict=True) if not isinstance(a, BaseException)}
    if not listed:
        first = answers[0]
        assert isinstance(first, BaseException)
        raise first
    return listed


def _union(listings: Iterable[dict[str, list[ModelFile]]]) -> dict[str, list[ModelFile]]:
    """Folders of several backends merged: a file is listed once (smoke weights if any backend's copy is)."""
    merged: dict[str, dict[str, ModelFile]] = {}
    for folders in listings:
        for folder, files in folders.items():
            seen = merged.setdefault(folder, {})
            for f in files:
                known = seen.get(f.name)
                seen[f.name] = (
                    f
                    if known is None
                    else ModelFile(name=f.name, smoke_weights=known.smoke_weights or f.smoke_weights)
                )
    return {folder: sorted(files.values(), key=lambda m: m.name) for folder, files in merged.items()}


@router.get(
    "/api/models/{folder}",
    response_model=FolderModels,
    summary="Model files of one folder (with several backends: on any of them)",
    responses={404: {"description": "Unknown folder"}, 503: {"description": "ComfyUI unreachable"}},
)
async def models_in(folder: str, index: ModelIndexDep, fleet: FleetDep, _: ReadAccess) -> FolderModels:
    from comfyui_client import NotFound

    if len(fleet.backends) == 1:
        try:
            files = await index.folder(folder)
        except NotFound as exc:
            raise NotFoundError(
                f"no model folder {folder!r} on ComfyUI (GET /api/models lists them)"
            ) from exc
        return FolderModels(folder=folder, models=files)
    listings = await _fleet_models(fleet)
    if not any(folder in folders for folders in listings.values()):
        raise NotFoundError(f"no model folder {folder!r} on any ComfyUI backend (GET /api/models lists them)")
    return FolderModels(folder=folder, models=_union(listings.values()).get(folder, []))
