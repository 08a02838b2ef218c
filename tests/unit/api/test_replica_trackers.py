"""Two gateway replicas in one process (api.jobs.replica): one fake ComfyUI, one job database, an
in-process bus between them. The leader follows ComfyUI's events; the other never opens a socket and keeps
its copies current from the leader's messages (and the database, should a message be lost)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.jobs import Job, JobService, JobStatus, JobStore, JobTracker
from api.jobs.bus import InProcessBus
from api.jobs.replica import Replication, merge, snapshot
from api.jobs.state import JobError
from comfyui_client import ComfyClient, JobLostEvent, OutputRef
from node_catalog import Catalog
from tests.unit.api.test_tracker_service import GRAPH, WAIT, Wire, run_to_end
from tests.unit.comfyui_client._comfy_fakes import frame


class StandbyLease:
    """A lease another replica holds for good: this replica never leads."""

    key, owner, retry, held = "lease", "standby", 0.1, False

    async def wait(self) -> None:
        await asyncio.Event().wait()


Pair = tuple[Wire, JobService, JobService]


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Pair]]]:
    opened: list[tuple[JobTracker, JobStore, ComfyClient]] = []

    async def build(*, reconcile_interval: float = 600, leases: tuple[Any, Any] | None = None) -> Pair:
        wire, peers = Wire(), []  # type: ignore[var-annotated]
        services = []
        for lease in leases or (None, StandbyLease()):
            store = JobStore(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
            await store.open()
            client = ComfyClient(
                "http://comfy.test:8188",
                client_id=await store.client_id(),  # one database: one client id for both
                transport=httpx.MockTransport(wire.handle),
                ws_connect=wire.connector,
                reconnect_backoff=(0.001, 0.004),
            )
            tracker = JobTracker(
                client,
                store,
                workflow_timeout=600,
                output_classes={"SaveImage"},
                reconcile_interval=reconcile_interval,
            )
            tracker.replica = Replication(tracker, InProcessBus(peers), lease)  # type: ignore[arg-type]
            opened.append((tracker, store, client))
            await tracker.start()
            services.append(JobService(client, tracker, Catalog.bundled, cancel_window=WAIT))
        async with asyncio.timeout(WAIT):
            await wire.connector.wait_connections(1)
        return wire, services[0], services[1]

    try:
        yield build
    finally:
        for tracker, store, client in opened:
            await tracker.stop()
            await client.aclose()
            await store.close()


async def until(check: Callable[[], bool]) -> None:
    for _ in range(int(WAIT / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_a_job_submitted_on_the_standby_is_followed_by_the_leader_and_seen_everywhere(
    replicas: Callable[..., Awaitable[Pair]],
) -> None:
    wire, leader, standby = await replicas()
    job = await standby.submit(GRAPH)
    pid = job.prompt_id
    await until(lambda: pid in leader.tracker.jobs)  # told on the bus
    assert standby.tracker.stream is None and not standby.tracker.leading
    events: list[dict[str, Any]] = []

    async def follow() -> None:
        async for ev in standby.subscribe(pid):
            events.append(ev)

    follower = asyncio.create_task(follow())
    await until(lambda: bool(events))
    run_to_end(wire, pid)
    await asyncio.wait_for(follower, WAIT)
    assert events[0]["event"] == "queued"
    assert events[-1]["event"] == "finished" and events[-1]["status"] == "completed"
    assert "started" in [e["event"] for e in events]
    await until(lambda: pid not in standby.tracker.jobs)  # its copy left memory, unwritten
    done = await standby.get(pid)
    assert done.status is JobStatus.COMPLETED and [o.filename for o in done.outputs] == ["t_00001_.png"]
    assert (await leader.tracker.store.get(pid)).status is JobStatus.COMPLETED  # type: ignore[union-attr]
    assert len(wire.connector.connections) == 1  # only the leader holds ComfyUI's socket


async def test_events_of_a_job_the_leader_never_heard_of_load_it_from_the_database(
    replicas: Callable[..., Awaitable[Pair]],
) -> None:
    """The job's events beat the bus message: the leader reads its row and follows it at once."""
    wire, leader, standby = await replicas()
    job = await standby.submit(GRAPH)
    leader.tracker.jobs.pop(job.prompt_id, None)  # as if the message had not arrived yet
    wire.comfy.start(job.prompt_id)
    wire.send(frame("execution_start", prompt_id=job.prompt_id, timestamp=1000))
    await until(
        lambda: (j := leader.tracker.jobs.get(job.prompt_id)) is not None and j.status.value == "running"
    )
    await until(lambda: standby.live_job(job.prompt_id).status is JobStatus.RUNNING)  # type: ignore[union-attr]


async def test_a_cancel_on_the_standby_ends_the_job_with_its_reason(
    replicas: Callable[..., Awaitable[Pair]],
) -> None:
    wire, leader, standby = await replicas()
    job = await standby.submit(GRAPH)
    wire.comfy.start(job.prompt_id)
    wire.send(frame("execution_start", prompt_id=job.prompt_id, timestamp=1000))
    await until(lambda: standby.live_job(job.prompt_id).status is JobStatus.RUNNING)  # type: ignore[union-attr]
    cancelled = await standby.cancel(job.prompt_id)  # ComfyUI interrupts; the leader sees the event
    assert cancelled.status is JobStatus.CANCELLED
    assert cancelled.error is not None and cancelled.error.type == "cancelled"
    row = await leader.tracker.store.get(job.prompt_id)
    assert row is not None and row.status is JobStatus.CANCELLED and row.error.type == "cancelled"  # type: ignore[union-attr]


async def test_a_lost_message_is_caught_up_from_the_database(
    replicas: Callable[..., Awaitable[Pair]],
) -> None:
    wire, leader, standby = await replicas(reconcile_interval=0.1)
    job = await standby.submit(GRAPH)
    await until(lambda: job.prompt_id in leader.tracker.jobs)
    await standby.tracker.replica.bus.stop()  # type: ignore[union-attr]  # deaf from now on
    run_to_end(wire, job.prompt_id)
    await until(lambda: job.prompt_id not in standby.tracker.jobs)  # re-read, ended, left memory
    assert (await standby.get(job.prompt_id)).status is JobStatus.COMPLETED


async def test_a_job_another_replica_cancelled_is_not_reported_lost_by_the_leader(
    replicas: Callable[..., Awaitable[Pair]],
) -> None:
    """A pending job cancelled on the standby leaves ComfyUI's queue without a history entry: the leader's
    stream, checking it before the standby's message arrives, calls it lost; the row says cancelled."""
    _wire, leader, standby = await replicas()
    job = await standby.submit(GRAPH)
    await until(lambda: job.prompt_id in leader.tracker.jobs)
    await leader.tracker.replica.bus.stop()  # type: ignore[union-attr]  # the message comes too late
    assert (await standby.cancel(job.prompt_id)).status is JobStatus.CANCELLED
    copy = leader.tracker.jobs[job.prompt_id]
    assert copy.status is JobStatus.PENDING
    await leader.tracker.handle(JobLostEvent(prompt_id=job.prompt_id, reason="gone"))
    assert copy.status is JobStatus.CANCELLED and job.prompt_id not in leader.tracker.jobs
    row = await leader.tracker.store.get(job.prompt_id)
    assert row is not None and row.status is JobStatus.CANCELLED and row.error.type == "cancelled"  # type: ignore[union-attr]


@pytest.mark.redis
async def test_the_standby_takes_over_when_the_leader_dies(
    replicas: Callable[..., Awaitable[Pair]], redis_url: str
) -> None:
    """Real leases: the leader dies without releasing; once its lease expires the standby opens ComfyUI's
    socket, loads the unfinished jobs and ends the one the dead leader was following."""
    from redis.asyncio import Redis

    from api.jobs.lease import Lease

    redis = Redis.from_url(redis_url)
    key = f"comfy-gateway:test:{uuid.uuid4().hex}:lease"
    first, second = Lease(redis, key, "a", ttl=0.6, retry=0.1), Lease(redis, key, "b", ttl=0.6, retry=0.1)
    try:
        wire, one, other = await replicas(leases=(first, second))
        await until(lambda: one.tracker.leading or other.tracker.leading)  # whichever asked first
        leader, standby = (one, other) if one.tracker.leading else (other, one)
        dying, living = (first, second) if leader is one else (second, first)
        assert not standby.tracker.leading
        job = await standby.submit(GRAPH)
        await until(lambda: job.prompt_id in leader.tracker.jobs)
        dying.release = lambda: asyncio.sleep(0, result=False)  # type: ignore[method-assign]  # killed
        await leader.tracker.stop()
        async with asyncio.timeout(WAIT):
            await wire.connector.wait_connections(2)  # the standby's socket, after the lease expired
        assert standby.tracker.leading and await living.holder() == living.owner
        await until(lambda: standby.tracker.stream is not None)
        run_to_end(wire, job.prompt_id)
        await until(lambda: job.prompt_id not in standby.tracker.jobs)
        done = await standby.get(job.prompt_id)
        assert done.status is JobStatus.COMPLETED and [o.filename for o in done.outputs] == ["t_00001_.png"]
    finally:
        await redis.delete(key)
        await redis.aclose()


def test_merge_never_goes_back_and_a_finished_job_never_changes() -> None:
    job = Job(prompt_id="p", workflow=GRAPH, status=JobStatus.RUNNING, progress=50.0, started_at=10.0)
    older = Job(prompt_id="p", workflow=GRAPH, status=JobStatus.PENDING, progress=0.0)
    merge(job, snapshot(older))
    assert job.status is JobStatus.RUNNING and job.progress == 50.0
    asked = Job(prompt_id="p", workflow=GRAPH, status=JobStatus.PENDING)
    asked.end_requested = JobStatus.CANCELLED
    asked.end_reason = JobError(message="by request", type="cancelled")
    merge(job, snapshot(asked))  # an older state, but the end asked for is news
    assert job.end_requested is JobStatus.CANCELLED and job.status is JobStatus.RUNNING
    done = Job(prompt_id="p", workflow=GRAPH, status=JobStatus.COMPLETED, progress=100.0, finished_at=20.0)
    done.outputs = [OutputRef(node_id="2", filename="t.png", subfolder="", type="output", kind="image")]
    merge(job, snapshot(done))
    assert job.status is JobStatus.COMPLETED and job.progress == 100.0 and job.finished_at == 20.0
    assert [o.filename for o in job.outputs] == ["t.png"] and job.started_at == 10.0
    merge(job, snapshot(Job(prompt_id="p", workflow=GRAPH, status=JobStatus.FAILED)))
    assert job.status is JobStatus.COMPLETED


def test_replicas_need_a_database_they_can_share() -> None:
    from pydantic import ValidationError

    from api.settings import Settings

    with pytest.raises(ValidationError, match="SQLite file, which replicas cannot share"):
        Settings(redis_url="redis://localhost:6379/0", database_url="sqlite+aiosqlite:///./jobs.db")
    shared = Settings(redis_url="redis://localhost:6379/0", database_url="postgresql+asyncpg://u:p@db/gw")
    assert shared.lease_ttl == 5.0
    assert Settings.model_fields["redis_url"].default is None  # by default one process, no Redis


async def test_publishing_never_waits_for_an_unreachable_redis() -> None:
    """The tracker shares every job change inline: with Redis gone, that costs nothing (queued, dropped
    once sending fails) and a shutdown is bounded."""
    import time

    from api.jobs.bus import REDIS_TIMEOUT, RedisBus
    from comfyui_local import free_port

    bus = RedisBus(f"redis://127.0.0.1:{free_port()}/0", "comfy-gateway:test:jobs", "a")
    started = time.monotonic()
    await bus.start(lambda message: asyncio.sleep(0))  # the subscriber keeps trying in the background
    t0 = time.monotonic()
    for n in range(1000):
        await bus.publish({"type": "job", "n": n})
    assert time.monotonic() - t0 < 0.5
    t1 = time.monotonic()
    await bus.stop()
    assert time.monotonic() - t1 < REDIS_TIMEOUT + 1.0
    assert time.monotonic() - started < REDIS_TIMEOUT + 2.0
