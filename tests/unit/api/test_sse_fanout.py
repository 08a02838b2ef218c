"""What keeps many SSE subscribers of one job cheap: `EventStreamResponse` (keep-alives by a timer, not a
task and a timer per event) and `sse_event` (one encoding per tracker event, not per subscriber)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from api.jobs.state import Job, JobStatus, event
from api.responses import EventStreamResponse, event_body, sse_event, sse_message
from api.settings import Settings


def stream_app(source: Callable[[], AsyncIterator[str]], heartbeat: float) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await EventStreamResponse(source(), heartbeat=heartbeat)(scope, receive, send)

    return app


async def test_chunks_pass_and_idle_gaps_get_keep_alives() -> None:
    async def source() -> AsyncIterator[str]:
        yield "event: a\ndata: 1\n\n"
        await asyncio.sleep(0.12)  # idle past the heartbeat: keep-alives are sent meanwhile
        yield "event: b\ndata: 2\n\n"

    transport = httpx.ASGITransport(app=stream_app(source, 0.05))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        resp = await http.get("/")
    assert resp.headers["content-type"].startswith("text/event-stream")
    text = resp.text
    assert text.startswith("event: a\ndata: 1\n\n") and text.endswith("event: b\ndata: 2\n\n")
    assert ": keep-alive\n\n" in text[len("event: a\ndata: 1\n\n") : -len("event: b\ndata: 2\n\n")]


async def test_busy_streams_send_no_keep_alive_and_failures_surface() -> None:
    async def busy() -> AsyncIterator[str]:
        for n in range(20):
            await asyncio.sleep(0.01)
            yield f"data: {n}\n\n"

    transport = httpx.ASGITransport(app=stream_app(busy, 0.05))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        text = (await http.get("/")).text
    assert "keep-alive" not in text and text.count("data: ") == 20

    async def broken() -> AsyncIterator[str]:
        yield "data: 1\n\n"
        raise RuntimeError("tracker bug")

    transport = httpx.ASGITransport(app=stream_app(broken, 3600))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        with pytest.raises(RuntimeError, match="tracker bug"):
            await http.get("/")


def test_a_shared_event_is_encoded_once_and_as_before() -> None:
    settings = Settings(api_keys=None)
    job = Job(prompt_id="p1", workflow={}, status=JobStatus.RUNNING)
    job.progress = 42.0
    ev = event(job, "progress")
    text = sse_event(ev, None, settings, "http://a/")
    assert text == sse_message("progress", event_body(ev, None, settings, "http://a/"))
    assert sse_event(ev, None, settings, "http://b/") is text  # the same object: not encoded again
    other = event(job, "progress")  # an equal but distinct event is encoded on its own
    assert sse_event(other, None, settings, "http://a/") == text
    finished = event(job, "finished")  # per request: URLs from each request's base URL
    assert sse_event(finished, job, settings, "http://a/") == sse_message(
        "finished", event_body(finished, job, settings, "http://a/")
    )
