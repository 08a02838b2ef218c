"""What keeps many SSE subscribers of one job cheap: `with_heartbeat` (keep-alives without a timer per
event) and `sse_event` (one encoding per tracker event, not per subscriber)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from api.jobs.state import Job, JobStatus, event
from api.responses import event_body, sse_event, sse_message, with_heartbeat
from api.settings import Settings


async def test_items_pass_and_idle_gaps_become_keep_alives() -> None:
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    closed = asyncio.Event()

    async def source() -> AsyncIterator[int]:
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            closed.set()

    got: list[int | None] = []
    stream = with_heartbeat(source(), 0.05)
    queue.put_nowait(1)
    got.append(await anext(stream))
    got.append(await anext(stream))  # nothing for 50 ms: a keep-alive
    queue.put_nowait(2)
    got.append(await anext(stream))
    assert got == [1, None, 2]
    queue.put_nowait(None)
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert closed.is_set()


async def test_closing_the_stream_closes_the_source_and_failures_are_raised() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[int]:
        try:
            while True:
                await asyncio.sleep(3600)
                yield 0
        finally:
            closed.set()

    stream = with_heartbeat(endless(), 3600)
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.01)
    waiting.cancel()  # the client went away
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await stream.aclose()
    await asyncio.wait_for(closed.wait(), 1)

    async def broken() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("tracker bug")

    failing = with_heartbeat(broken(), 3600)
    assert await anext(failing) == 1
    with pytest.raises(RuntimeError, match="tracker bug"):
        await anext(failing)


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
