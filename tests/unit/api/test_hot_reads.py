"""The hot reads cost nothing: a job's status comes from memory (no database round trip) and /api/queue from
the queue view the events keep current (no ComfyUI round trip per call). At the wire: the tests' fake ComfyUI
(requests counted) and a real SQLite store whose reads are made to fail."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.jobs import JobStatus, JobStore
from api.jobs.live_state import QueueView, RecentJobs
from api.jobs.state import Job
from comfyui_client import QueueItem, QueueSnapshot
from tests.unit.api.test_tracker_service import GRAPH, WAIT, Setup, make, run_to_end, settle

__all__ = ["make"]  # the fixture, used by name


def no_reads(store: JobStore) -> list[str]:
    """Make every read of the store fail the test; the ids asked for are recorded."""
    asked: list[str] = []

    async def get(prompt_id: str) -> Job | None:
        asked.append(prompt_id)
        raise AssertionError(f"the database was read for job {prompt_id}")

    store.get = get  # type: ignore[method-assign]
    return asked


def queue_reads(wire: Any) -> int:
    return sum(1 for r in wire.comfy.requests if r.url.path == "/queue" and r.method == "GET")


async def until(check: Any) -> None:
    for _ in range(int(WAIT / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_status_of_a_live_and_a_just_finished_job_never_reads_the_database(make: Setup) -> None:
    wire, service, store = await make()
    job = await service.submit(GRAPH)
    asked = no_reads(store)
    assert (await service.get(job.prompt_id)).status is JobStatus.PENDING
    assert (await service.find(job.prompt_id)) is job
    run_to_end(wire, job.prompt_id)
    await settle(service, job.prompt_id, JobStatus.COMPLETED)
    await until(lambda: job.prompt_id not in service.tracker.jobs)  # written, left the live jobs
    done = await service.get(job.prompt_id)
    assert done.status is JobStatus.COMPLETED and [o.filename for o in done.outputs] == ["t_00001_.png"]
    assert asked == []


async def test_a_job_not_in_memory_is_read_from_the_database(make: Setup) -> None:
    wire, service, store = await make()
    job = await service.submit(GRAPH)
    run_to_end(wire, job.prompt_id)
    await until(lambda: job.prompt_id not in service.tracker.jobs)
    service.tracker.recent = RecentJobs(0)  # evicted (or a restarted gateway)
    reads: list[str] = []
    original = store.get

    async def counted(prompt_id: str) -> Job | None:
        reads.append(prompt_id)
        return await original(prompt_id)

    store.get = counted  # type: ignore[method-assign]
    assert (await service.get(job.prompt_id)).status is JobStatus.COMPLETED
    assert (await service.get(job.prompt_id)).status is JobStatus.COMPLETED
    assert reads == [job.prompt_id] * 2  # nothing kept in memory

    # With room in memory (the default), a finished job read once from the database (after a restart,
    # or evicted) is kept: the next reads skip the database.
    service.tracker.recent = RecentJobs(10)
    for _ in range(3):
        assert (await service.get(job.prompt_id)).status is JobStatus.COMPLETED
    assert reads == [job.prompt_id] * 3


def test_recent_jobs_are_bounded_least_recently_read_out_first() -> None:
    recent = RecentJobs(2)
    jobs = [Job(prompt_id=str(i), workflow={}) for i in range(3)]
    recent.add(jobs[0])
    recent.add(jobs[1])
    assert recent.get("0") is jobs[0]  # read: now the newest
    recent.add(jobs[2])
    assert len(recent) == 2 and recent.get("1") is None and recent.get("0") is jobs[0]
    off = RecentJobs(0)
    off.add(jobs[0])
    assert len(off) == 0


async def test_queue_is_served_from_the_view_not_a_comfyui_round_trip_per_call(make: Setup) -> None:
    wire, service, _ = await make()
    await until(lambda: service.tracker.connected and service.tracker.queue_view.valid)
    before = queue_reads(wire)
    for _ in range(50):
        await service.queue()
    assert queue_reads(wire) == before

    # A submitted job is in the view at once (pending), running once it starts, gone once it ends: the
    # events keep it current, still without asking ComfyUI.
    job = await service.submit(GRAPH)
    snapshot, age = await service.queue()
    assert [i.prompt_id for i in snapshot.pending] == [job.prompt_id] and age >= 0
    wire.comfy.start(job.prompt_id)
    run_to_end(wire, job.prompt_id)
    await settle(service, job.prompt_id, JobStatus.COMPLETED)
    snapshot, _ = await service.queue()
    assert job.prompt_id not in snapshot
    # ComfyUI's `status` events (its queue changed) may refresh the view, never one read per call.
    assert queue_reads(wire) - before <= 3


async def test_queue_asks_comfyui_when_the_view_is_stale_or_the_stream_is_down(make: Setup) -> None:
    wire, service, _ = await make()
    await until(lambda: service.tracker.connected and service.tracker.queue_view.valid)
    service.queue_max_age = 0.05
    await asyncio.sleep(0.15)  # past twice the age bound: refreshed before answering
    before = queue_reads(wire)
    _, age = await service.queue()
    assert queue_reads(wire) == before + 1 and age == 0.0

    service.tracker.connected = False  # the socket dropped: the view may be behind, ComfyUI is asked
    wire.down = True
    from comfyui_client import ComfyUnavailable

    with pytest.raises(ComfyUnavailable):
        await service.queue()
    assert not service.tracker.queue_view.valid


def item(number: int, prompt_id: str) -> QueueItem:
    return QueueItem(number=number, prompt_id=prompt_id)


def test_a_queue_answer_older_than_the_events_keeps_what_they_said() -> None:
    """A /queue request sent before a job was submitted (or ended) and answered after: the view keeps the
    job's own events, so the answer never takes back what the gateway already knows."""
    view = QueueView()
    view.replace(QueueSnapshot(running=[item(1, "a")], pending=[item(2, "b")]), asked_at=0.0)
    import time

    asked = time.monotonic()
    view.pending("c", 3)
    view.ended("b")
    view.replace(QueueSnapshot(running=[item(1, "a")], pending=[item(2, "b")]), asked_at=asked)
    assert view.snapshot is not None
    assert [i.prompt_id for i in view.snapshot.pending] == ["c"]
    view.running("c")
    assert view.snapshot.running[0].prompt_id == "c" and view.snapshot.pending == []
    job = Job(prompt_id="c", workflow={}, status=JobStatus.RUNNING)
    assert view.position(job) == 0
    # A later answer (asked after the events) is the truth: the recorded changes are dropped.
    view.replace(QueueSnapshot(), asked_at=time.monotonic())
    assert view.snapshot == QueueSnapshot() and view.position(job) == 0  # running: position 0 anyway


def routes_app(service: Any) -> Any:
    """The status and queue routes over `service`, behind the real access middleware (open: no keys)."""
    from fastapi import FastAPI

    from api.auth import KeyRing
    from api.auth.middleware import RequireKey
    from api.errors import install_error_handlers
    from api.routes import system, workflow
    from api.settings import Settings

    app = FastAPI()
    app.state.jobs = service
    app.state.settings = Settings(api_keys=None)
    install_error_handlers(app)
    app.include_router(workflow.router)
    app.include_router(system.router)
    app.add_middleware(RequireKey, keyring=KeyRing(), allowed_origins=[])
    return app


async def test_status_and_queue_routes_answer_from_memory(make: Setup) -> None:
    import httpx

    wire, service, store = await make()
    await until(lambda: service.tracker.connected and service.tracker.queue_view.valid)
    job = await service.submit(GRAPH)
    asked = no_reads(store)
    before = queue_reads(wire)
    transport = httpx.ASGITransport(app=routes_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
        for _ in range(20):
            status = await http.get(f"/api/workflow/status/{job.prompt_id}")
            assert status.status_code == 200 and status.json()["status"] == "pending"
            assert status.json()["queue_position"] == 1
            queue = await http.get("/api/queue")
            assert queue.status_code == 200 and set(queue.json()) == {"running", "pending"}
            assert [i[1] for i in queue.json()["pending"]] == [job.prompt_id]
            assert float(queue.headers["X-Queue-Age"]) >= 0
        assert queue_reads(wire) == before and asked == []
        # The stream is down and ComfyUI too: the queue is not made up from memory, it is a 503.
        service.tracker.connected = False
        wire.down = True
        down = await http.get("/api/queue")
        assert down.status_code == 503 and down.headers["Retry-After"]
