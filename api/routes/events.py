"""Live job events: Server-Sent Events and a WebSocket, both ending after `finished`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from api.deps import JobsDep, SettingsDep
from api.jobs.service import JobService
from api.responses import event_body, sse_message
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
    responses={200: {"content": {"text/event-stream": {}}}, 404: {"description": "Unknown job"}},
)
async def sse(prompt_id: str, request: Request, jobs: JobsDep, settings: SettingsDep) -> StreamingResponse:
    """`event: queued|started|progress|node|output|finished`, `data:` the JSON event; ends after finished."""
    await jobs.get(prompt_id)  # 404 before the stream starts

    async def body() -> AsyncIterator[str]:
        events = _events(jobs, settings, prompt_id, str(request.base_url)).__aiter__()
        nxt: asyncio.Task[dict[str, Any]] | None = None
        try:
            while True:
                nxt = nxt or asyncio.ensure_future(events.__anext__())
                done, _ = await asyncio.wait({nxt}, timeout=HEARTBEAT_SECONDS)
                if not done:
                    yield ": keep-alive\n\n"
                    continue
                try:
                    ev = nxt.result()
                except StopAsyncIteration:
                    return
                nxt = None
                yield sse_message(ev["event"], ev)
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


@router.websocket("/{prompt_id}/ws")
async def ws(websocket: WebSocket, prompt_id: str, jobs: JobsDep, settings: SettingsDep) -> None:
    """The same events as JSON messages; closes (1000) after `finished`, 4404 for an unknown job."""
    await websocket.accept()
    if await jobs.find(prompt_id) is None:
        await websocket.send_json({"event": "error", "prompt_id": prompt_id, "detail": "unknown job"})
        await websocket.close(code=4404)
        return
    base_url = str(websocket.base_url).replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    try:
        async for ev in _events(jobs, settings, prompt_id, base_url):
            await websocket.send_json(ev)
        await websocket.close(code=1000)
    except WebSocketDisconnect:
        return
