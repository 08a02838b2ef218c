"""Comfy API v2 bodies (Job, Output, Asset, Progress, events) from the gateway's jobs and asset records.

One job, two surfaces: a job submitted through either is read here from the same `api.jobs.state.Job`.
Statuses: submitting/pending -> queued, running -> running (canceling once a cancel is asked and not yet
confirmed by ComfyUI), completed -> succeeded, failed/timeout -> failed, cancelled -> canceled. The gateway
keeps jobs and assets without a deadline: `expires_at` is a nominal year after creation.
"""

from __future__ import annotations

import logging
import mimetypes
from datetime import UTC, datetime
from time import time
from typing import Any

from api.jobs.state import Job, JobStatus
from api.v2.store import AssetRow, AssetStore, output_asset_id
from comfyui_client import ComfyClient, ComfyError, OutputRef

log = logging.getLogger(__name__)

RETENTION_SECONDS = 365 * 24 * 3600  # nominal: the gateway deletes neither jobs nor assets
URL_SECONDS = 3600  # how long a content URL is announced valid (it is the proxy-served content route)
KINDS = {"image": "image", "video": "video", "audio": "audio", "text": "text"}
# Gateway error types that say what happened to the job as a whole (not a node's exception).
JOB_ERROR_TYPES = {"not_submitted", "lost", "interrupted", "timeout", "execution_error"}


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def status_of(job: Job, status: JobStatus | None = None) -> str:
    """The contract's status of `job` (or of `job` as it was at an event that carried `status`)."""
    cancelling = job.end_requested is JobStatus.CANCELLED
    return {
        JobStatus.SUBMITTING: "canceling" if cancelling else "queued",
        JobStatus.PENDING: "canceling" if cancelling else "queued",
        JobStatus.RUNNING: "canceling" if cancelling else "running",
        JobStatus.COMPLETED: "succeeded",
        JobStatus.FAILED: "failed",
        JobStatus.TIMEOUT: "failed",
        JobStatus.CANCELLED: "canceled",
    }[status or job.status]


def queue_position_of(job: Job, position: int | None, status: JobStatus | None = None) -> int | None:
    """Only a queued job has one (the gateway's 0 for a running job is not a queue position)."""
    return position if (status or job.status) in (JobStatus.SUBMITTING, JobStatus.PENDING) else None


def progress_of(job: Job) -> dict[str, Any] | None:
    """Node-count weighted, as the gateway computes it (`Job.progress`); None while queued."""
    if job.status in (JobStatus.SUBMITTING, JobStatus.PENDING):
        return None
    total = len(job.will_run or job.workflow) or 1
    if job.status is JobStatus.COMPLETED:
        done = total
    else:
        done = min(total, sum(1 for f in job.node_fraction.values() if f >= 1.0))
    node = job.current_node or {}
    class_type = node.get("class_type")
    return {
        "value": round(min(1.0, max(0.0, job.progress / 100.0)), 4),
        "nodes_done": done,
        "nodes_total": total,
        "current_node": node.get("id"),
        "current_node_class": class_type,
        "step": None,
        "steps": None,
        "message": f"{class_type} ({done}/{total} nodes)" if class_type else None,
    }


def error_of(job: Job) -> dict[str, Any] | None:
    err = job.error
    if job.status is JobStatus.TIMEOUT:
        return {
            "code": "timeout",
            "message": err.message if err else "the job ran past WORKFLOW_TIMEOUT",
            "node_id": err.node if err else None,
            "class_type": err.node_type if err else None,
            "traceback": None,
        }
    if err is None or job.status is not JobStatus.FAILED:
        return None
    code = err.type if err.type in JOB_ERROR_TYPES else "node_execution_error"
    message = err.message if code != "node_execution_error" else f"{err.type}: {err.message}"
    return {
        "code": code,
        "message": message,
        "node_id": err.node,
        "class_type": err.node_type,
        "traceback": None,
    }


def metrics_of(job: Job, now: float | None = None) -> dict[str, int | None]:
    """queue_ms / execution_ms as the contract names them, plus the gateway's estimate of what is left."""
    now = now or time()
    queued_until = job.started_at or job.finished_at or (None if not job.terminal else job.created_at)
    eta = job.estimated_time_remaining(now)
    return {
        "queue_ms": int(((queued_until or now) - job.created_at) * 1000),
        "execution_ms": (
            int(((job.finished_at or now) - job.started_at) * 1000) if job.started_at is not None else None
        ),
        "eta_ms": int(eta * 1000) if eta is not None else None,
    }


def urls_of(job: Job) -> dict[str, str]:
    base = f"/api/v2/jobs/{job.prompt_id}"
    return {"self": base, "events": f"{base}/events", "cancel": f"{base}/cancel"}


def content_url(base_url: str, asset_id: str) -> str:
    return f"{base_url.rstrip('/')}/api/v2/assets/{asset_id}/content"


def output_body(row: AssetRow, base_url: str) -> dict[str, Any]:
    ref = OutputRef.from_dict(row.output or {"filename": row.file_path or ""})
    return {
        "node_id": ref.node_id,
        "name": ref.filename,
        "type": KINDS.get(ref.kind, "file"),
        "content_type": row.content_type,
        "size_bytes": row.size_bytes,
        "id": row.id,
        "hash": row.hash,
        "url": content_url(base_url, row.id),
        "url_expires_at": iso(time() + URL_SECONDS),
        "job_id": row.job_id,
    }


def asset_body(row: AssetRow, base_url: str, *, created_new: bool | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "hash": row.hash,
        "size_bytes": row.size_bytes,
        "content_type": row.content_type,
        "file_path": row.file_path,
        "created_at": iso(row.created_at),
        "url": content_url(base_url, row.id),
        "url_expires_at": iso(time() + URL_SECONDS),
        "expires_at": iso(row.expires_at),
        "job_id": row.job_id,
    }
    if created_new is not None:
        body["created_new"] = created_new
    return body


async def output_asset(job: Job, ref: OutputRef, assets: AssetStore, client: ComfyClient) -> AssetRow | None:
    """The asset record of one output file, registered on first read (its size asked of ComfyUI once);
    None while ComfyUI cannot say (the output shows on a later read, and always in the final job)."""
    row = await assets.get(output_asset_id(job.prompt_id, ref))
    if row is not None:
        return row
    content_type = mimetypes.guess_type(ref.filename)[0] or "application/octet-stream"
    try:
        async with client.view(ref.filename, subfolder=ref.subfolder, type=ref.type) as resp:
            size = int(resp.headers.get("content-length") or 0)
            content_type = resp.headers.get("content-type") or content_type
    except (ComfyError, ValueError) as exc:
        log.info("output %s of job %s not readable yet: %s", ref.filename, job.prompt_id, exc)
        return None
    return await assets.register_output(
        job.prompt_id, ref, job.owner, content_type=content_type, size_bytes=size
    )


async def outputs_of(
    job: Job, assets: AssetStore, client: ComfyClient, base_url: str
) -> list[dict[str, Any]]:
    rows = [await output_asset(job, ref, assets, client) for ref in list(job.outputs)]
    return [output_body(row, base_url) for row in rows if row is not None]


async def job_body(
    job: Job, queue_position: int | None, assets: AssetStore, client: ComfyClient, base_url: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job.prompt_id,
        "status": status_of(job),
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.finished_at),
        "expires_at": iso(job.created_at + RETENTION_SECONDS),
        "queue_position": queue_position_of(job, queue_position),
        "progress": progress_of(job),
        "outputs": await outputs_of(job, assets, client, base_url),
        "error": error_of(job),
        "metrics": metrics_of(job),
        "urls": urls_of(job),
    }
    record = job.request if isinstance(job.request, dict) and job.request.get("api") == "v2" else {}
    labels = record.get("metadata")
    if isinstance(labels, dict):
        body["metadata"] = labels
    return body
