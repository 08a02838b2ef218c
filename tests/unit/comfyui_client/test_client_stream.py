"""EventStream and wait_for with a fake WebSocket replaying the real captures and a fake ComfyUI HTTP API.

Covers events in order, reconnect with backoff, resynchronisation from /queue + /history, lost jobs and
deduplication of events that race synthesised ones."""

from __future__ import annotations

import asyncio
import json
import struct
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from _comfy_fakes import FakeComfy, FakeConnector, entry_for, frames_for, load

from comfyui_client import (
    ComfyClient,
    ComfyTimeout,
    ComfyUnavailable,
    DisconnectedEvent,
    Event,
    EventStream,
    ExecutedEvent,
    ExecutingEvent,
    ExecutionErrorEvent,
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionSuccessEvent,
    JobLost,
    JobLostEvent,
    PreviewEvent,
    ReconnectedEvent,
    StatusEvent,
    UnknownEvent,
    parse_event,
)

S01 = "01_emptyimage_saveimage.result.json"
S06 = "06_runtime_error_v3_combo.result.json"
WAIT = 5.0  # generous bound for things that happen at once; never a timing margin the tests rely on


@pytest.fixture
def comfy() -> FakeComfy:
    return FakeComfy()


@pytest.fixture
def connector() -> FakeConnector:
    return FakeConnector()


@pytest.fixture
async def client(comfy: FakeComfy, connector: FakeConnector) -> AsyncIterator[ComfyClient]:
    async with ComfyClient(
        "http://comfy.test:8188",
        transport=comfy.transport(),
        ws_connect=connector,
        reconnect_backoff=(0.001, 0.004),
    ) as c:
        yield c


async def collect_until(
    stream: EventStream, stop: Callable[[Event], bool], *, limit: int = 10_000
) -> list[Event]:
    events: list[Event] = []
    async with asyncio.timeout(WAIT):
        async for event in stream:
            events.append(event)
            if stop(event) or len(events) >= limit:
                break
    return events


def finished(pid: str) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, ExecutingEvent) and e.is_finished and e.prompt_id == pid


async def settle(stream: EventStream, connector: FakeConnector) -> list[Event]:
    """Iterate until a marker frame comes through: pending checks of tracked jobs have run by then."""
    marker = json.dumps({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": -1}}}})
    connector.current.feed(marker)
    return await collect_until(stream, lambda e: isinstance(e, StatusEvent) and e.queue_remaining == -1)


def queue_job(comfy: FakeComfy, pid: str, *, running: bool = False) -> None:
    comfy.number += 1
    item = [comfy.number, pid, {}, {}, []]
    (comfy.running if running else comfy.pending).append(item)


async def test_replays_a_capture_in_order(client: ComfyClient, connector: FakeConnector) -> None:
    pid = str(uuid.uuid4())
    frames = frames_for(S01, pid)
    async with client.events() as stream:
        await stream.wait_connected(WAIT)
        assert stream.connected
        connector.current.feed(*frames)
        events = await collect_until(stream, finished(pid))
    hello = events[0]
    assert isinstance(hello, StatusEvent) and hello.sid == client.client_id
    assert [e.model_dump() for e in events[1:]] == [parse_event(f).model_dump() for f in frames]
    assert connector.urls == [f"ws://comfy.test:8188/ws?clientId={client.client_id}"]
    assert connector.current.closed  # the last stream closed the socket


async def test_a_tracked_job_seen_live_ends_once_without_synthesis(
    client: ComfyClient, comfy: FakeComfy, connector: FakeConnector
) -> None:
    pid = str(uuid.uuid4())
    queue_job(comfy, pid, running=True)
    async with client.events() as stream:
        await stream.wait_connected(WAIT)
        stream.track(pid)
        connector.current.feed(*frames_for(S01, pid))
        events = await collect_until(stream, finished(pid))
        assert stream.tracked == frozenset()
    assert not any(e.synthetic for e in events)
    assert sum(isinstance(e, ExecutionSuccessEvent) for e in events) == 1


async def test_reconnect_synthesises_the_end_of_a_job_that_finished_meanwhile(
    client: ComfyClient, comfy: FakeComfy, connector: FakeConnector
) -> None:
    pid = str(uuid.uuid4())
    queue_job(comfy, pid, running=True)
    frames = frames_for(S01, pid)
    cut = next(i for i, f in enumerate(frames) if '"executing"' in f) + 1  # up to executing node 1
    async with client.events() as stream:
        await stream.wait_connected(WAIT)
        stream.track(pid)
        connector.current.feed(*frames[:cut])
        live = await collect_until(stream, lambda e: isinstance(e, ExecutingEvent))
        await settle(stream, connector)
        # ComfyUI finishes the job while our socket is down and the next two connects fail.
        comfy.finish(pid, entry_for(S01, pid))
        connector.fail(2)
        connector.current.drop()
        after = await collect_until(stream, finished(pid))
    assert [e.type for e in live[1:]] == [parse_event(f).type for f in frames[:cut]]
    assert isinstance(after[0], DisconnectedEvent) and "closed" in after[0].error
    reconnected = after[1]
    assert isinstance(reconnected, ReconnectedEvent) and reconnected.attempts == 3
    synthetic = after[2:]
    assert [type(e) for e in synthetic] == [ExecutedEvent, ExecutionSuccessEvent, ExecutingEvent]
    assert all(e.synthetic and e.prompt_id == pid for e in synthetic)
    executed = synthetic[0]
    assert isinstance(executed, ExecutedEvent)
    assert executed.node == "2" and executed.files[0].filename == "red_00001_.png"
    assert connector.attempts == 4


async def test_reconnect_reports_failures_and_skips_outputs_already_seen(
    client: ComfyClient, comfy: FakeComfy, connector: FakeConnector
) -> None:
    pid = str(uuid.uuid4())
    queue_job(comfy, pid, running=True)
    frames = frames_for(S01, pid)
    cut = next(i for i, f in enumerate(frames) if '"executed"' in f) + 1
    async with client.events() as stream:
        await stream.wait_connected(WAIT)
        stream.track(pid)
        connector.current.feed(*frames[:cut])
        await collect_until(stream, lambda e: isinstance(e, ExecutedEvent))
        await settle(stream, connector)
        error_entry = entry_for(S06, pid)
        error_entry["outputs"] = {"2": {"images": [{"filename": "red_00001_.png", "subfolder": "probe"}]}}
        comfy.finish(pid, error_entry)
        connector.current.drop()
        after = await collect_until(stream, finished(pid))
    types = [type(e) for e in after]
    assert types == [DisconnectedEvent, ReconnectedEvent, ExecutionErrorEvent, ExecutingEvent]
    error = after[2]
    assert isinstance(error, ExecutionErrorEvent) and error.synthetic
    assert (error.node_id, error.node_type, error.exception_type) == ("2", "SaveVideo", "ValueError")


async def test_a_job_comfyui_forgot_is_reported_lost_after_reconnect(
    client: ComfyClient, comfy: FakeComfy, connector: FakeConnector
) -> None:
    lost, alive = str(uuid.uuid4()), str(uuid.uuid4())
    queue_job(comfy, lost, running=True)
    queue_job(comfy, alive)
    async with client.events() as stream:
        await stream.wait_connected(WAIT)
        stream.track(lost)
        stream.track(alive)
        await settle(stream, connector)
        # ComfyUI restarted: the running job is gone; the pending one was re-queued by someone.
        comfy.forget(lost)
        connector.current.drop()
        after = await collect_until(stream, lambda e: isinstance(e, JobLostEvent))
        assert stream.tracked == frozenset({alive})
    assert [type(e) for e in after] == [DisconnectedEvent, ReconnectedEvent, JobLostEvent]
    assert after[2].prompt_id == lost and "no longer knows" in after[2].reason  # type: ignore[attr-defined]


async def test_real_duplicates_after_a_synthesised_end_are_dropped(
    client: ComfyClient, comfy: FakeComfy, connector: FakeConnector
) -> None:
    pid = str(uuid.uuid4())
    queue_job(comfy, pid, running=True)
    frames = frames_for(S01, pid)
    tail = [f for f in frames if any(t in f for t in ('"executed"', '"execution_success"', '"node": null'))]
    marker = json.dumps({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 42}}}})
    async with client.events() as stream:
        await stream.wait_connected(WAIT)
        stream.track(pid)
        comfy.finish(pid, entry_for(S01, pid))
        # The new socket also delivers the job's real last events (it ended right after we reconnected).
        connector.on_connect = lambda ws: ws.feed(*tail, marker)
        connector.current.drop()
        after = await collect_until(stream, lambda e: isinstance(e, StatusEvent) and e.queue_remaining == 42)
    ends = [e for e in after if isinstance(e, ExecutionSuccessEvent)]
    assert len(ends) == 1 and ends[0].synthetic
    assert sum(finished(pid)(e) for e in after) == 1
    assert sum(isinstance(e, ExecutedEvent) for e in after) == 1


async def test_tracking_a_job_that_ended_before_the_stream_opened(
    client: ComfyClient, comfy: FakeComfy, connector: FakeConnector
) -> None:
    pid = str(uuid.uuid4())
    comfy.history[pid] = entry_for(S01, pid)
    async with client.events(grace=0.01) as stream:
        stream.track(pid)
        events = await collect_until(stream, finished(pid))
    assert [type(e) for e in events] == [StatusEvent, ExecutedEvent, ExecutionSuccessEvent, ExecutingEvent]
    assert all(e.synthetic for e in events[1:])


async def test_live_events_in_flight_win_over_a_check_that_found_the_job_finished(
    client: ComfyClient, comfy: FakeComfy, connector: FakeConnector
) -> None:
    pid = str(uuid.uuid4())
    frames = frames_for(S01, pid)
    comfy.history[pid] = entry_for(S01, pid)  # history is written before the last events are sent
    async with client.events(grace=60) as stream:
        await stream.wait_connected(WAIT)
        stream.track(pid)
        await settle(stream, connector)  # the check has run and found the job finished
        connector.current.feed(*frames)
        events = await collect_until(stream, finished(pid))
    assert not any(e.synthetic for e in events)
    assert [e.type for e in events] == [parse_event(f).type for f in frames]


async def test_a_quiet_socket_polls_and_finds_a_silently_deleted_job(
    client: ComfyClient, comfy: FakeComfy, connector: FakeConnector
) -> None:
    pid = str(uuid.uuid4())
    queue_job(comfy, pid)
    async with client.events(poll_interval=0.01) as stream:
        await stream.wait_connected(WAIT)
        stream.track(pid)
        await settle(stream, connector)
        comfy.forget(pid)  # e.g. another client deleted it from the queue: ComfyUI sends nothing
        events = await collect_until(stream, lambda e: isinstance(e, JobLostEvent))
    assert events[-1].prompt_id == pid


async def test_failed_checks_are_retried_not_fatal(connector: FakeConnector) -> None:
    calls: list[str] = []

    def flaky(request: Any) -> Any:
        import httpx

        calls.append(request.url.path)
        if len(calls) <= 2:
            raise httpx.ConnectError("refused", request=request)
        return FakeComfy().handle(request)

    import httpx

    async with ComfyClient(
        "http://comfy.test:8188", transport=httpx.MockTransport(flaky), ws_connect=connector
    ) as client:
        pid = str(uuid.uuid4())
        async with client.events(poll_interval=0.01) as stream:
            stream.track(pid)
            events = await collect_until(stream, lambda e: isinstance(e, JobLostEvent))
    assert events[-1].prompt_id == pid and len(calls) >= 3


async def test_streams_of_one_client_share_one_socket(client: ComfyClient, connector: FakeConnector) -> None:
    pid = str(uuid.uuid4())
    frames = frames_for(S01, pid)
    async with client.events() as first, client.events() as second:
        await first.wait_connected(WAIT)
        connector.current.feed(*frames)
        a = await collect_until(first, finished(pid))
        b = await collect_until(second, finished(pid))
        assert a == b and len(connector.connections) == 1
        await first.aclose()
        assert not connector.current.closed
    assert connector.current.closed and len(connector.connections) == 1


async def test_binary_and_unknown_frames_do_not_break_the_stream(
    client: ComfyClient, connector: FakeConnector
) -> None:
    pid = str(uuid.uuid4())
    async with client.events() as stream:
        await stream.wait_connected(WAIT)
        connector.current.feed(
            struct.pack(">II", 1, 2) + b"\x89PNG",
            b"\x00",
            "{not json",
            json.dumps({"type": "crystools.monitor", "data": {"cpu": 1}}),
            *frames_for(S01, pid),
        )
        events = await collect_until(stream, finished(pid))
    assert isinstance(events[1], PreviewEvent) and isinstance(events[3], UnknownEvent)
    assert events[4].type == "crystools.monitor"


async def test_a_lagging_subscriber_loses_only_droppable_events(
    client: ComfyClient, connector: FakeConnector
) -> None:
    pid = str(uuid.uuid4())
    progress = json.dumps({"type": "progress", "data": {"value": 1, "max": 9, "prompt_id": pid, "node": "4"}})
    async with client.events(max_backlog=10) as stream:
        await stream.wait_connected(WAIT)
        done = frames_for(S01, pid)
        connector.current.feed(*([progress] * 50), *done)
        async with asyncio.timeout(WAIT):
            await connector.current.drained.wait()  # everything is in the subscriber's backlog now
        events = await collect_until(stream, finished(pid))
        assert stream.dropped > 0
    assert len(events) < 50 + len(done)
    assert sum(isinstance(e, ExecutedEvent) for e in events) == 1
    assert sum(isinstance(e, ExecutionSuccessEvent) for e in events) == 1


async def test_wait_connected_names_the_last_error(client: ComfyClient, connector: FakeConnector) -> None:
    connector.fail(10**9)
    async with client.events() as stream:
        with pytest.raises(ComfyUnavailable, match="ConnectionRefusedError"):
            await stream.wait_connected(0.05)


async def test_closing_the_client_ends_iteration(comfy: FakeComfy, connector: FakeConnector) -> None:
    client = ComfyClient("http://comfy.test:8188", transport=comfy.transport(), ws_connect=connector)
    stream = client.events()
    async with stream:
        await stream.wait_connected(WAIT)

        async def consume() -> list[Event]:
            return [e async for e in stream]

        task = asyncio.create_task(consume())
        await asyncio.sleep(0)
        await client.aclose()
        async with asyncio.timeout(WAIT):
            assert [type(e) for e in await task] == [StatusEvent]  # ComfyUI's hello, then the end
    with pytest.raises(RuntimeError):
        async with stream:
            pass


async def test_iterating_without_entering_is_an_error(client: ComfyClient) -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await client.events().__anext__()


# -- wait_for --------------------------------------------------------------------------------------------


async def submit_and_feed(
    client: ComfyClient, comfy: FakeComfy, connector: FakeConnector, capture: str
) -> tuple[str, asyncio.Task[Any]]:
    job = await client.submit(load(capture.replace("result", "prompt")))
    comfy.start(job.prompt_id)

    def feed(ws: Any) -> None:
        comfy.finish(job.prompt_id, entry_for(capture, job.prompt_id))
        ws.feed(*frames_for(capture, job.prompt_id))

    connector.on_connect = feed
    task = asyncio.create_task(client.wait_for(job.prompt_id, timeout=WAIT))
    return job.prompt_id, task


async def test_wait_for_success(client: ComfyClient, comfy: FakeComfy, connector: FakeConnector) -> None:
    pid, task = await submit_and_feed(client, comfy, connector, S01)
    entry = await task
    assert entry.prompt_id == pid and entry.outcome == "success"
    assert [f.filename for f in entry.files] == ["red_00001_.png"]


async def test_wait_for_failure(client: ComfyClient, comfy: FakeComfy, connector: FakeConnector) -> None:
    pid, task = await submit_and_feed(client, comfy, connector, S06)
    with pytest.raises(ExecutionFailed) as info:
        await task
    assert info.value.prompt_id == pid and info.value.node_type == "SaveVideo"


async def test_wait_for_interrupted(client: ComfyClient, comfy: FakeComfy, connector: FakeConnector) -> None:
    pid = str(uuid.uuid4())
    probe = load("cancel_probe.json")
    ((old, raw),) = probe["history"]["S1"].items()
    comfy.history[pid] = json.loads(json.dumps(raw).replace(old, pid))
    with pytest.raises(ExecutionInterrupted) as info:
        await client.wait_for(pid, timeout=WAIT)
    assert info.value.node_type == "ImageBlur"
    assert info.value.entry is not None and info.value.entry.outcome == "interrupted"


async def test_wait_for_lost_job(client: ComfyClient) -> None:
    with pytest.raises(JobLost, match="no longer knows"):
        await client.wait_for(str(uuid.uuid4()), timeout=WAIT)


async def test_wait_for_times_out(client: ComfyClient, comfy: FakeComfy) -> None:
    pid = str(uuid.uuid4())
    queue_job(comfy, pid, running=True)
    with pytest.raises(ComfyTimeout, match="did not finish within"):
        await client.wait_for(pid, timeout=0.05)


async def test_jobs_ended_during_a_disconnect_are_reported_in_tracking_order(
    client: ComfyClient, comfy: FakeComfy, connector: FakeConnector
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(6)]
    for pid in ids:
        queue_job(comfy, pid)
    async with client.events() as stream:
        await stream.wait_connected(WAIT)
        for pid in ids:
            stream.track(pid)
        await settle(stream, connector)
        for pid in reversed(ids):
            comfy.finish(pid, entry_for(S01, pid))
        connector.current.drop()
        events = await collect_until(stream, finished(ids[-1]))
    ends = [e.prompt_id for e in events if isinstance(e, ExecutingEvent) and e.is_finished]
    assert ends == ids


async def test_checks_ask_history_only_for_jobs_that_left_the_queue(
    client: ComfyClient, comfy: FakeComfy, connector: FakeConnector
) -> None:
    queued = [str(uuid.uuid4()) for _ in range(5)]
    for pid in queued:
        queue_job(comfy, pid)
    async with client.events() as stream:
        await stream.wait_connected(WAIT)
        for pid in queued:
            stream.track(pid)
        await settle(stream, connector)
    paths = [r.url.path for r in comfy.requests]
    assert "/queue" in paths and not any(p.startswith("/history") for p in paths)


async def test_polls_run_even_while_other_jobs_keep_the_socket_busy(
    client: ComfyClient, comfy: FakeComfy, connector: FakeConnector
) -> None:
    pid = str(uuid.uuid4())
    queue_job(comfy, pid)
    busy = json.dumps({"type": "progress", "data": {"value": 1, "max": 2, "prompt_id": "other", "node": "1"}})
    async with client.events(poll_interval=0.05) as stream:
        await stream.wait_connected(WAIT)
        stream.track(pid)
        await settle(stream, connector)
        comfy.forget(pid)
        connector.current.feed(busy)
        events: list[Event] = []
        async with asyncio.timeout(WAIT):
            async for event in stream:
                events.append(event)
                if isinstance(event, JobLostEvent):
                    break
                connector.current.feed(busy)  # the socket never goes quiet
    assert events[-1].prompt_id == pid


# -- checks run off the delivery path ---------------------------------------------------------------------


class SlowHistory:
    """FakeComfy whose /history answers wait until `release` is set (a slow or busy ComfyUI)."""

    def __init__(self, comfy: FakeComfy) -> None:
        self.comfy = comfy
        self.release = asyncio.Event()
        self.asked = asyncio.Event()

    async def handle(self, request: Any) -> Any:
        if request.url.path.startswith("/history/"):
            self.asked.set()
            await self.release.wait()
        return self.comfy.handle(request)


async def test_events_keep_flowing_while_a_check_waits_for_history(
    comfy: FakeComfy, connector: FakeConnector
) -> None:
    import httpx

    slow = SlowHistory(comfy)
    tracked, other = str(uuid.uuid4()), str(uuid.uuid4())
    async with (
        ComfyClient(
            "http://comfy.test:8188", transport=httpx.MockTransport(slow.handle), ws_connect=connector
        ) as client,
        client.events(grace=60) as stream,
    ):
        await stream.wait_connected(WAIT)
        stream.track(tracked)  # not queued: the check asks /history, which hangs
        async with asyncio.timeout(WAIT):
            await slow.asked.wait()
        # Another job's events and then the tracked job's own live end all arrive while /history hangs.
        connector.current.feed(*frames_for(S01, other), *frames_for(S01, tracked))
        before = await collect_until(stream, finished(other))
        live = await collect_until(stream, finished(tracked))
        assert not slow.release.is_set()  # every event above was delivered with the answer pending
        assert stream.tracked == frozenset()
        # The late answer (the job is in history now) must not end the job a second time.
        comfy.history[tracked] = entry_for(S01, tracked)
        slow.release.set()
        after = await settle(stream, connector)
    assert [e.type for e in before[1:]] == [parse_event(f).type for f in frames_for(S01, other)]
    assert [e.type for e in live] == [parse_event(f).type for f in frames_for(S01, tracked)]
    assert not any(e.synthetic for e in before + live + after)
    assert [type(e) for e in after] == [StatusEvent]


async def test_a_slow_check_still_ends_a_silent_job_exactly_once(
    comfy: FakeComfy, connector: FakeConnector
) -> None:
    import httpx

    slow = SlowHistory(comfy)
    pid = str(uuid.uuid4())
    comfy.history[pid] = entry_for(S01, pid)  # ended before it was tracked: no live event will come
    busy = json.dumps({"type": "progress", "data": {"value": 1, "max": 2, "prompt_id": "other", "node": "1"}})
    async with (
        ComfyClient(
            "http://comfy.test:8188", transport=httpx.MockTransport(slow.handle), ws_connect=connector
        ) as client,
        client.events(grace=0.01, poll_interval=0.01) as stream,
    ):
        await stream.wait_connected(WAIT)
        stream.track(pid)
        async with asyncio.timeout(WAIT):
            await slow.asked.wait()
        connector.current.feed(busy, busy)
        flowing = await collect_until(stream, lambda e: e.type == "progress", limit=3)
        assert flowing[-1].type == "progress" and not slow.release.is_set()
        slow.release.set()
        events = await collect_until(stream, finished(pid))
        later = await settle(stream, connector)  # later polls find nothing left to end
    assert not any(e.prompt_id == pid for e in later)
    ends = [e for e in events if isinstance(e, ExecutionSuccessEvent)]
    assert len(ends) == 1 and ends[0].synthetic and ends[0].prompt_id == pid
    assert sum(finished(pid)(e) for e in events) == 1
