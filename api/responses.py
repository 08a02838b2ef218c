"""Response bodies of the job routes: status bodies with output URLs (the gateway's or ComfyUI's), job events
for SSE/WebSocket, and the Server-Sent Events encoding."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from api.jobs.state import Job, JobStatus
from api.schemas.workflow import CurrentNode, JobErrorInfo, OutputFileInfo, StatusResponse
from api.settings import Settings
from comfyui_client import OutputRef


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value is not None else None


def output_url(ref: OutputRef, settings: Settings, base_url: str, backend: str | None = None) -> str:
    """Where a client downloads an output: the gateway's /api/outputs, or (OUTPUT_URLS=comfyui) the /view of
    the backend that made it (`backend`: the job's, by name)."""
    if settings.output_urls == "comfyui":
        query = urlencode({"filename": ref.filename, "subfolder": ref.subfolder, "type": ref.type})
        comfy = next((b.url for b in settings.backends() if b.name == backend), settings.comfyui_url)
        return f"{comfy.rstrip('/')}/view?{query}"
    base = (settings.public_base_url or base_url).rstrip("/")
    url = f"{base}/api/outputs/{quote(ref.type, safe='')}/{quote(ref.filename, safe='')}"
    return f"{url}?{urlencode({'subfolder': ref.subfolder})}" if ref.subfolder else url


def status_body(
    job: Job, settings: Settings, base_url: str, *, queue_position: int | None = None
) -> StatusResponse:
    """The job's status as `GET /api/workflow/status/{id}` answers it (`queue_position` from JobService)."""
    by_kind: dict[str, list[str]] = {"image": [], "video": [], "audio": [], "other": []}
    infos: list[OutputFileInfo] = []
    for ref in job.outputs:
        url = output_url(ref, settings, base_url, job.backend)
        by_kind.get(ref.kind, by_kind["other"]).append(url)
        infos.append(
            OutputFileInfo(
                url=url,
                filename=ref.filename,
                subfolder=ref.subfolder,
                type=ref.type,
                kind=ref.kind,
                node_id=ref.node_id,
            )
        )
    error = None
    if job.error is not None:
        error = JobErrorInfo(
            node=job.error.node, node_type=job.error.node_type, type=job.error.type, message=job.error.message
        )
    current = CurrentNode(**job.current_node) if job.current_node else None
    return StatusResponse(
        prompt_id=job.prompt_id,
        status=job.status.value,
        progress=job.progress,
        current_node=current,
        queue_position=queue_position,
        output_images=by_kind["image"],
        output_videos=by_kind["video"],
        output_audio=by_kind["audio"],
        output_files=by_kind["other"],
        outputs=infos,
        error=error,
        estimated_time_remaining=job.estimated_time_remaining(),
        source=job.source,
        backend=job.backend,
        created_at=_ts(job.created_at) or datetime.now(tz=UTC),
        started_at=_ts(job.started_at),
        finished_at=_ts(job.finished_at),
        **_end_request(job),
    )


def _end_request(job: Job) -> dict[str, Any]:
    """The fields saying a cancel or timeout was asked of ComfyUI and is not confirmed yet."""
    if not job.awaiting_end or job.end_requested is None:
        return {}
    what = "a cancel" if job.end_requested is JobStatus.CANCELLED else "the gateway's timeout"
    return {
        "cancel_requested": True,
        "end_requested": job.end_requested.value,
        "note": f"{what} asked ComfyUI to stop this job; it is {job.end_requested.value} once ComfyUI "
        "confirms it",
    }


def event_body(ev: dict[str, Any], job: Job | None, settings: Settings, base_url: str) -> dict[str, Any]:
    """A job event for SSE/WS: `finished` carries the whole final status (a finished job has no queue
    position); outputs carry their URL."""
    body = dict(ev)
    if ev["event"] == "finished" and job is not None:
        body["job"] = status_body(job, settings, base_url).model_dump(mode="json")
    if ev["event"] == "output" and isinstance(ev.get("output"), dict):
        body["output"] = {
            **ev["output"],
            "url": output_url(OutputRef.from_dict(ev["output"]), settings, base_url),
        }
    return body


def sse_message(event: str, data: Any) -> str:
    """One Server-Sent Events message: the `event:` line, one `data:` line of JSON, the blank line."""
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"
