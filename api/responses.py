"""Response bodies of the job routes: status bodies with output URLs (the gateway's or ComfyUI's), job events
for SSE/WebSocket, the Server-Sent Events encoding, and what keeps a thousand subscribers of one job cheap
(`sse_event`: one encoding per event, `EventStreamResponse`: no task or timer per event)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from starlette.responses import StreamingResponse
from starlette.types import Send

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


# The SSE text of the tracker's last events, by identity: every subscriber of a job receives the very same
# event dict, so it is encoded once, not once per subscriber. The dict is kept with its text, so its id cannot
# be reused while cached. `finished` and `output` carry URLs built from each request's base URL: not shared.
_ENCODED: dict[int, tuple[dict[str, Any], str]] = {}
_ENCODED_MAX = 1024
_PER_REQUEST = frozenset({"finished", "output"})


def sse_event(ev: dict[str, Any], job: Job | None, settings: Settings, base_url: str) -> str:
    """`sse_message` of `event_body(ev, ...)`, encoded once per tracker event for the shared kinds."""
    if ev["event"] in _PER_REQUEST:
        return sse_message(ev["event"], event_body(ev, job, settings, base_url))
    hit = _ENCODED.get(id(ev))
    if hit is not None and hit[0] is ev:
        return hit[1]
    text = sse_message(ev["event"], event_body(ev, job, settings, base_url))
    if len(_ENCODED) >= _ENCODED_MAX:
        del _ENCODED[next(iter(_ENCODED))]  # the oldest (dicts keep insertion order)
    _ENCODED[id(ev)] = (ev, text)
    return text


class EventStreamResponse(StreamingResponse):
    """Server-Sent Events: each chunk of `content` as it comes, and a `: keep-alive` comment once `heartbeat`
    seconds passed without one (proxies and browsers drop silent connections).

    The keep-alive is sent by a timer re-armed only when it fires, not by waiting for each chunk with a
    timeout: that cost a task and a timer per chunk, and with a thousand subscribers of one job it was most
    of what delivering an event cost (benchmarks/sse.py). Disconnects are Starlette's (`StreamingResponse`).
    """

    media_type = "text/event-stream"

    def __init__(
        self, content: AsyncIterator[str], *, heartbeat: float, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(content, headers=headers)
        self.heartbeat = heartbeat

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        loop = asyncio.get_running_loop()
        lock = asyncio.Lock()  # a keep-alive never interleaves with a chunk; uncontended it never waits
        last = loop.time()
        beating: set[asyncio.Task[None]] = set()
        timer: asyncio.TimerHandle | None = None

        async def keep_alive() -> None:
            nonlocal last
            async with lock:
                await send({"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True})
            last = loop.time()

        def beat() -> None:
            nonlocal timer
            idle = loop.time() - last
            if idle >= self.heartbeat and not lock.locked():
                task = loop.create_task(keep_alive())
                beating.add(task)
                task.add_done_callback(_forget(beating))
                idle = 0.0
            timer = loop.call_later(max(0.0, self.heartbeat - idle), beat)

        timer = loop.call_later(self.heartbeat, beat)
        try:
            async for chunk in self.body_iterator:
                body = chunk if isinstance(chunk, bytes) else str(chunk).encode(self.charset)
                async with lock:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                last = loop.time()
            async with lock:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if timer is not None:
                timer.cancel()
            for task in beating:
                task.cancel()


def _forget(tasks: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
    """A done callback: drop the task, and read its failure (a keep-alive to a client that left)."""

    def done(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()

    return done
