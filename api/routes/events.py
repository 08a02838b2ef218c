"""Live job events: Server-Sent Events and a WebSocket, both ending after `finished`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from api.auth import PrincipalDep, ReadAccess, visible
from api.deps import JobsDep, SettingsDep
from api.jobs.service import JobService
from api.responses import EventStreamResponse, event_body, sse_event
from api.routes.workflow import owned_job
from api.settings import Settings

router = APIRouter(prefix="/api/workflow", tags=["events"])

HEARTBEAT_SECONDS = 15.0


async def _events(
    jobs: JobService, settings: Settings, prompt_id: str, base_url: str
) -> AsyncIterator[dict[str, Any]]:
    async for ev in jobs.subscribe(prompt_id):
        job = await jobs.find(prompt_id) if ev["event"] == "finished" else None
        yield event_body(ev, job, settings, base_url)


@router.get(
    "/{prompt_id}/events",
    summary="Job events as Server-Sent Events",
    responses={
        200: {"content": {"text/event-stream": {}}},
        404: {"description": "Unknown job (or another key's)"},
    },
)
async def sse(
    prompt_id: str, request: Request, jobs: JobsDep, settings: SettingsDep, principal: ReadAccess
) -> StreamingResponse:
    """`event: queued|started|progress|node|output|finished`, `data:` the JSON event; ends after finished.
    Browsers' EventSource cannot set headers: the key may come as `?api_key=`."""
    await owned_job(jobs, prompt_id, principal)  # 404 before the stream starts

    async def body() -> AsyncIterator[str]:
        # Tracker events encoded once for all subscribers (`sse_event`), keep-alives by a timer
        # (`EventStreamResponse`): what keeps a thousand subscribers of one job cheap (benchmarks/sse.py).
        base_url = str(request.base_url)
        async for ev in jobs.subscribe(prompt_id):
            job = await jobs.find(prompt_id) if ev["event"] == "finished" else None
            yield sse_event(ev, job, settings, base_url)

    return EventStreamResponse(
        body(),
        heartbeat=HEARTBEAT_SECONDS,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


SUBPROTOCOL = "comfy-gateway"


@router.websocket("/{prompt_id}/ws")
async def ws(
    websocket: WebSocket, prompt_id: str, jobs: JobsDep, settings: SettingsDep, principal: PrincipalDep
) -> None:
    """The same events as JSON messages; closes (1000) after `finished`, 4404 for an unknown job (or another
    key's), 4403 for a key without the `read` scope. Browsers cannot set headers: give the key as
    `?api_key=` or offer the subprotocols `comfy-gateway` and `bearer.<key>`."""
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    if not principal.has("read"):
        await websocket.send_json(
            {"event": "error", "prompt_id": prompt_id, "detail": "the key lacks 'read'"}
        )
        await websocket.close(code=4403)
        return
    job = await jobs.find(prompt_id)
    if job is None or not visible(principal, job.owner):
        await websocket.send_json({"event": "error", "prompt_id": prompt_id, "detail": "unknown job"})
        await websocket.close(code=4404)
        return
    base_url = str(websocket.base_url).replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    # A client that went away is noticed at once (not at the next event, maybe minutes later).
    gone: asyncio.Future[None] = asyncio.ensure_future(_until_disconnect(websocket))
    events = _events(jobs, settings, prompt_id, base_url).__aiter__()
    nxt: asyncio.Future[dict[str, Any]] | None = None
    try:
        while True:
            nxt = nxt or asyncio.ensure_future(events.__anext__())
            racing: list[asyncio.Future[Any]] = [nxt, gone]
            await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
            if gone.done():
                return
            try:
                ev = nxt.result()
            except StopAsyncIteration:
                break
            nxt = None
            await websocket.send_json(ev)
        await websocket.close(code=1000)
    except WebSocketDisconnect:
        return
    finally:
        gone.cancel()
        if nxt is not None:
            nxt.cancel()
        with contextlib.suppress(Exception):
            await events.aclose()  # type: ignore[attr-defined]


async def _until_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) client messages until it disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
