"""JobService and JobTracker at the wire: a real ComfyClient over the tests' fake ComfyUI (an httpx
MockTransport for its HTTP API, a scripted WebSocket for its events), and a real SQLite job store."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.errors import InvalidWorkflow, JobAlreadyFinished, JobNotFound
from api.jobs import JobService, JobStatus, JobStore, JobTracker
from comfyui_client import ComfyClient, JobLostEvent
from node_catalog import Catalog
from tests.unit.comfyui_client._comfy_fakes import FakeComfy, FakeConnector, frame

GRAPH = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "t"}},
}
WAIT = 5.0  # a bound for things that happen at once, never a margin the tests rely on


def history(prompt_id: str, outcome: str = "success") -> dict[str, Any]:
    """A raw /history entry as ComfyUI writes it."""
    messages: list[list[Any]] = [["execution_start", {"prompt_id": prompt_id, "timestamp": 1000}]]
    if outcome == "success":
        messages.append(["execution_success", {"prompt_id": prompt_id, "timestamp": 2000}])
        status = {"status_str": "success", "completed": True, "messages": messages}
    else:
        messages.append(
            [
                "execution_error",
                {
                    "prompt_id": prompt_id,
                    "node_id": "2",
                    "node_type": "SaveImage",
                    "exception_message": "disk full",
                    "exception_type": "OSError",
                },
            ]
        )
        status = {"status_str": "error", "completed": False, "messages": messages}
    return {
        "outputs": {"2": {"images": [{"filename": "t_00001_.png", "subfolder": "", "type": "output"}]}},
        "status": status,
    }


class Wire:
    """The fake ComfyUI behind one gateway: its HTTP state (`comfy`) and its WebSocket (`ws` feeds frames).

    `on_prompt` (async) runs after ComfyUI has queued a submission and before its answer goes back."""

    def __init__(self) -> None:
        self.connector = FakeConnector()
        self.comfy = FakeComfy(self.connector)  # an interrupt ends the running job, events and history
        self.on_prompt: Callable[[str], Awaitable[None]] | None = None
        self.down = False  # every HTTP request fails to connect (the socket's frames still come)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("Connection refused", request=request)
        response = self.comfy.handle(request)
        if request.url.path == "/prompt" and response.status_code == 200 and self.on_prompt is not None:
            await self.on_prompt(json.loads(request.content)["prompt_id"])
        return response

    def send(self, *frames: str) -> None:
        self.connector.current.feed(*frames)


Setup = Callable[..., Awaitable[tuple[Wire, JobService, JobStore]]]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Setup]:
    """`await make(reconcile_interval=...)`: a started JobService on the wire, torn down after the test."""
    opened: list[tuple[JobTracker, JobStore, ComfyClient]] = []

    async def build(
        *,
        reconcile_interval: float = 600,
        workflow_timeout: float = 600,
        cancel_window: float = WAIT,
        wire: Wire | None = None,  # the same ComfyUI as an earlier gateway (a restarted gateway)
    ) -> tuple[Wire, JobService, JobStore]:
        wire = wire or Wire()
        connections = len(wire.connector.connections)
        store = JobStore(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
        await store.open()
        client = ComfyClient(
            "http://comfy.test:8188",
            client_id=await store.client_id(),
            transport=httpx.MockTransport(wire.handle),
            ws_connect=wire.connector,
            reconnect_backoff=(0.001, 0.004),
        )
        tracker = JobTracker(
            client,
            store,
            workflow_timeout=workflow_timeout,
            output_classes={"SaveImage"},
            reconcile_interval=reconcile_interval,
        )
        opened.append((tracker, store, client))
        await tracker.start()
        async with asyncio.timeout(WAIT):
            await wire.connector.wait_connections(connections + 1)
        return wire, JobService(client, tracker, Catalog.bundled, cancel_window=cancel_window), store

    try:
        yield build
    finally:
        for tracker, store, client in opened:
            await tracker.stop()
            await client.aclose()
            await store.close()


@pytest.fixture
async def setup(make: Setup) -> tuple[Wire, JobService, JobStore]:
    return await make()


async def settle(service: JobService, prompt_id: str, status: JobStatus) -> None:
    for _ in range(500):
        if (await service.get(prompt_id)).status is status:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{prompt_id} never became {status}: {(await service.get(prompt_id)).status}")


def run_to_end(wire: Wire, pid: str) -> None:
    """ComfyUI runs the job: history written, then its events sent (as ComfyUI does)."""
    wire.comfy.finish(pid, history(pid))
    wire.send(
        frame("execution_start", prompt_id=pid, timestamp=1000),
        frame("executing", prompt_id=pid, node="2", display_node="2"),
        frame(
            "executed",
            prompt_id=pid,
            node="2",
            display_node="2",
            output={"images": [{"filename": "t_00001_.png", "subfolder": "", "type": "output"}]},
        ),
        frame("executing", prompt_id=pid, node=None),
    )


async def test_events_drive_a_job_to_completed_from_history(setup: Any) -> None:
    wire, service, store = setup
    job = await service.submit(GRAPH, request={"workflow": GRAPH})
    assert (await store.get(job.prompt_id)) is not None
    pid = job.prompt_id
    assert service.tracker.stream is not None and pid in service.tracker.stream.tracked
    run_to_end(wire, pid)
    await settle(service, pid, JobStatus.COMPLETED)
    # The in-memory job is terminal before its row is written (the tracker saves, then forgets it).
    for _ in range(200):
        stored = await store.get(pid)
        if stored is not None and stored.status is JobStatus.COMPLETED:
            break
        await asyncio.sleep(0.01)
    assert stored is not None and stored.status is JobStatus.COMPLETED and stored.progress == 100
    assert [o.filename for o in stored.outputs] == ["t_00001_.png"]
    with pytest.raises(JobAlreadyFinished):
        await service.cancel(pid)


async def test_reconcile_completes_finished_and_fails_unknown_jobs(make: Setup) -> None:
    """Jobs that ended (or that ComfyUI forgot) while the socket stayed up and sent nothing: the stream's
    periodic check of tracked jobs settles them, every `reconcile_interval`."""
    wire, service, _ = await make(reconcile_interval=0.05)
    done = await service.submit(GRAPH)
    gone = await service.submit(GRAPH)
    failed = await service.submit(GRAPH)
    wire.comfy.pending = []
    wire.comfy.history[done.prompt_id] = history(done.prompt_id)
    wire.comfy.history[failed.prompt_id] = history(failed.prompt_id, outcome="error")
    await settle(service, done.prompt_id, JobStatus.COMPLETED)
    await settle(service, gone.prompt_id, JobStatus.FAILED)
    await settle(service, failed.prompt_id, JobStatus.FAILED)
    assert (await service.get(done.prompt_id)).status is JobStatus.COMPLETED
    lost = await service.get(gone.prompt_id)
    assert lost.status is JobStatus.FAILED and lost.error is not None and lost.error.type == "job_lost"
    err = (await service.get(failed.prompt_id)).error
    assert err is not None and (err.node, err.node_type, err.message) == ("2", "SaveImage", "disk full")


async def test_a_job_comfyui_forgot_is_lost_after_a_reconnect(setup: Any) -> None:
    wire, service, _ = setup
    job = await service.submit(GRAPH)
    wire.comfy.forget(job.prompt_id)  # ComfyUI restarted: its queue and history are gone
    wire.connector.current.drop()
    await settle(service, job.prompt_id, JobStatus.FAILED)
    error = (await service.get(job.prompt_id)).error
    assert error is not None and error.type == "job_lost" and "ComfyUI" in error.message


async def test_job_lost_event_fails_the_job(setup: Any) -> None:
    _, service, _ = setup
    job = await service.submit(GRAPH)
    await service.tracker.handle(JobLostEvent(prompt_id=job.prompt_id, reason="ComfyUI restarted"))
    await settle(service, job.prompt_id, JobStatus.FAILED)
    assert (await service.get(job.prompt_id)).error.message == "ComfyUI restarted"


async def test_cancel_pending_and_running(setup: Any) -> None:
    wire, service, _ = setup
    pending = await service.submit(GRAPH)
    cancelled = await service.cancel(pending.prompt_id)
    assert cancelled.status is JobStatus.CANCELLED and pending.prompt_id not in wire.comfy.pending_ids
    assert (await service.cancel(pending.prompt_id)).status is JobStatus.CANCELLED  # idempotent

    running = await service.submit(GRAPH)
    wire.comfy.start(running.prompt_id)
    wire.send(frame("execution_start", prompt_id=running.prompt_id, timestamp=1000))
    await settle(service, running.prompt_id, JobStatus.RUNNING)
    assert (await service.cancel(running.prompt_id)).status is JobStatus.CANCELLED
    assert wire.comfy.interrupted == [running.prompt_id]


async def test_rejected_or_invalid_submissions_leave_nothing(setup: Any) -> None:
    wire, service, store = setup
    with pytest.raises(InvalidWorkflow) as invalid:
        await service.submit({"1": {"class_type": "NoSuchNode", "inputs": {}}})
    assert invalid.value.status_code == 400
    wire.comfy.reject = {
        "error": {"type": "prompt_outputs_failed_validation", "message": "bad"},
        "node_errors": {"2": {"errors": [{"type": "x", "message": "y", "details": "z"}]}},
    }
    with pytest.raises(InvalidWorkflow) as rejected:
        await service.submit(GRAPH)
    assert rejected.value.node_errors["2"]["errors"][0]["type"] == "x"
    assert await store.recent() == [] and service.tracker.jobs == {}
    with pytest.raises(JobNotFound):
        await service.get("nope")


async def test_wait_returns_terminal_job(setup: Any) -> None:
    wire, service, _ = setup
    job = await service.submit(GRAPH)
    wire.comfy.finish(job.prompt_id, history(job.prompt_id))
    waiter = asyncio.create_task(service.wait(job.prompt_id, timeout=5))
    await asyncio.sleep(0.05)
    wire.send(frame("executing", prompt_id=job.prompt_id, node=None))
    assert (await waiter).status is JobStatus.COMPLETED


async def test_job_that_ends_before_submit_returns_is_recorded_finished(setup: Any) -> None:
    wire, service, store = setup

    async def racing(pid: str) -> None:
        wire.comfy.finish(pid, history(pid))
        wire.send(
            frame("execution_start", prompt_id=pid, timestamp=1000),
            frame("executing", prompt_id=pid, node=None),
        )
        await asyncio.sleep(0.1)  # the listener settles the job before ComfyUI's answer is "back"

    wire.on_prompt = racing
    job = await service.submit(GRAPH)
    assert (await service.get(job.prompt_id)).status is JobStatus.COMPLETED
    stored = await store.get(job.prompt_id)
    assert stored is not None and stored.status is JobStatus.COMPLETED and stored.outputs
    assert service.tracker.jobs == {}


async def test_a_failed_write_keeps_the_job_in_memory_until_it_is_written(
    make: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A locked database (another process holds its write lock) refuses the job's final write: the job is
    not dropped (it would stay "running" in the database for ever) but kept, served, and written later."""
    import api.jobs.store
    import api.jobs.tracker

    monkeypatch.setattr(api.jobs.store, "SQLITE_BUSY_SECONDS", 0.05)
    monkeypatch.setattr(api.jobs.tracker, "SAVE_RETRY_DELAYS", (0.01, 0.02))
    wire, service, store = await make(reconcile_interval=0.1)
    job = await service.submit(GRAPH)
    pid = job.prompt_id

    locker = sqlite3.connect(tmp_path / "jobs.db", isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        with caplog.at_level(logging.ERROR, logger="api.jobs.tracker"):
            run_to_end(wire, pid)
            await settle(service, pid, JobStatus.COMPLETED)
            for _ in range(500):
                if any("could not persist job" in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.01)
        assert any(r.levelno == logging.ERROR and pid in r.getMessage() for r in caplog.records)
        assert pid in service.tracker.jobs  # kept: its final state is not written yet
        assert (await service.get(pid)).status is JobStatus.COMPLETED  # and served from memory
        await asyncio.sleep(0.3)  # retries against the still locked database fail and keep it too
        assert pid in service.tracker.jobs
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    for _ in range(500):  # the watchdog writes it again once the database takes writes
        if pid not in service.tracker.jobs:
            break
        await asyncio.sleep(0.01)
    stored = await store.get(pid)
    assert stored is not None and stored.status is JobStatus.COMPLETED and stored.progress == 100
    assert pid not in service.tracker.jobs


# -- a cancel or a timeout is recorded only once ComfyUI confirmed it (issue 12) ---------------------------
async def running_job(wire: Wire, service: JobService) -> str:
    job = await service.submit(GRAPH)
    wire.comfy.start(job.prompt_id)
    wire.send(frame("execution_start", prompt_id=job.prompt_id, timestamp=1000))
    await settle(service, job.prompt_id, JobStatus.RUNNING)
    return job.prompt_id


async def test_pending_cancel_is_confirmed_by_the_queue(setup: Any) -> None:
    wire, service, store = setup
    job = await service.submit(GRAPH)
    cancelled = await service.cancel(job.prompt_id)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.error.type == "cancelled"
    # Deleted, then read back: gone from pending, not running, no history entry; no interrupt was needed.
    methods = [(r.method, r.url.path) for r in wire.comfy.requests]
    assert methods[-3:] == [("POST", "/queue"), ("GET", "/queue"), ("GET", f"/history/{job.prompt_id}")]
    assert wire.comfy.interrupted == [] and job.prompt_id not in wire.comfy.pending_ids
    for _ in range(200):
        stored = await store.get(job.prompt_id)
        if stored is not None and stored.status is JobStatus.CANCELLED:
            break
        await asyncio.sleep(0.01)
    assert stored is not None and stored.status is JobStatus.CANCELLED


async def test_a_pending_job_comfyui_already_started_is_interrupted_then_cancelled(setup: Any) -> None:
    wire, service, _ = setup
    job = await service.submit(GRAPH)
    wire.comfy.start(job.prompt_id)  # ComfyUI started it; the gateway has not heard yet
    wire.comfy.hold_interrupts = True  # the interrupt lands at the next node boundary, later
    assert service.tracker.jobs[job.prompt_id].status is JobStatus.PENDING
    task = asyncio.create_task(service.cancel(job.prompt_id))
    for _ in range(200):
        if wire.comfy.interrupted:
            break
        await asyncio.sleep(0.01)
    assert wire.comfy.interrupted == [job.prompt_id]
    assert not task.done() and not service.tracker.jobs[job.prompt_id].terminal  # not cancelled yet
    wire.comfy.interrupt_running(job.prompt_id)  # ComfyUI reports the interruption
    cancelled = await task
    assert cancelled.status is JobStatus.CANCELLED and cancelled.error.message == "cancelled by request"


async def test_running_cancel_waits_for_comfyui_and_says_so_meanwhile(make: Setup) -> None:
    from api.responses import status_body
    from api.settings import Settings

    wire, service, store = await make(cancel_window=0.2)
    pid = await running_job(wire, service)
    wire.comfy.hold_interrupts = True
    job = await service.cancel(pid)  # ComfyUI did not confirm within the window: not cancelled
    assert job.status is JobStatus.RUNNING and job.end_requested is JobStatus.CANCELLED
    assert wire.comfy.interrupted == [pid]
    body = status_body(job, Settings(), "http://gw/", queue_position=0)
    assert body.status == "running" and body.cancel_requested and body.end_requested == "cancelled"
    assert body.note and body.error is None
    stored = await store.get(pid)  # persisted: a restart keeps asking
    assert stored is not None and stored.end_requested is JobStatus.CANCELLED
    assert stored.end_reason is not None and stored.end_reason.type == "cancelled"
    again = await service.cancel(pid)  # idempotent: asks again, still unconfirmed
    assert again.status is JobStatus.RUNNING
    wire.comfy.interrupt_running(pid)  # execution_interrupted event + history entry
    await settle(service, pid, JobStatus.CANCELLED)
    final = await service.get(pid)
    assert final.error is not None and final.error.type == "cancelled"
    done = status_body(final, Settings(), "http://gw/")
    assert not done.cancel_requested and done.note is None
    assert (await service.cancel(pid)).status is JobStatus.CANCELLED


async def test_a_lost_interrupt_is_sent_again_while_the_job_runs(make: Setup) -> None:
    # ComfyUI clears its interrupt flag as a job starts: an interrupt landing just before is lost.
    wire, service, _ = await make(cancel_window=3.0)
    pid = await running_job(wire, service)
    wire.comfy.hold_interrupts = True  # the first interrupt is dropped
    task = asyncio.create_task(service.cancel(pid))
    for _ in range(200):
        if wire.comfy.interrupted:
            break
        await asyncio.sleep(0.01)
    wire.comfy.hold_interrupts = False
    job = await task
    assert job.status is JobStatus.CANCELLED and wire.comfy.interrupted == [pid, pid]


async def test_a_cancel_that_loses_the_race_to_completion_leaves_the_job_completed(make: Setup) -> None:
    wire, service, _ = await make(cancel_window=0.2)
    pid = await running_job(wire, service)
    wire.comfy.hold_interrupts = True
    assert (await service.cancel(pid)).status is JobStatus.RUNNING  # interrupt sent, not confirmed
    run_to_end(wire, pid)  # the job's last node finished before the interrupt landed
    await settle(service, pid, JobStatus.COMPLETED)
    assert (await service.get(pid)).error is None

    other = await running_job(wire, service)
    wire.comfy.finish(other, history(other))  # finished on ComfyUI; its events not heard yet
    with pytest.raises(JobAlreadyFinished):
        await service.cancel(other)
    assert (await service.get(other)).status is JobStatus.COMPLETED and wire.comfy.interrupted == [pid]


async def test_a_timeout_is_recorded_once_comfyui_reports_the_interruption(make: Setup) -> None:
    wire, service, _ = await make(workflow_timeout=0.3, reconcile_interval=0.1)
    wire.comfy.hold_interrupts = True
    pid = await running_job(wire, service)
    for _ in range(300):
        if wire.comfy.interrupted:
            break
        await asyncio.sleep(0.01)
    assert wire.comfy.interrupted and set(wire.comfy.interrupted) == {pid}
    await asyncio.sleep(0.3)  # asked again meanwhile; still running until ComfyUI answers
    job = await service.get(pid)
    assert job.status is JobStatus.RUNNING and job.end_requested is JobStatus.TIMEOUT
    wire.comfy.interrupt_running(pid)
    await settle(service, pid, JobStatus.TIMEOUT)
    error = (await service.get(pid)).error
    assert error is not None and error.type == "timeout" and "WORKFLOW_TIMEOUT" in error.message


async def test_comfyui_down_during_cancel_is_503_then_retried_until_confirmed(make: Setup) -> None:
    from api.jobs.errors import CancelUnconfirmed

    wire, service, store = await make(reconcile_interval=0.1)
    pid = await running_job(wire, service)
    wire.down = True
    with pytest.raises(CancelUnconfirmed) as unconfirmed:
        await service.cancel(pid)
    assert unconfirmed.value.status_code == 503
    assert unconfirmed.value.body()["code"] == "cancel_unconfirmed"
    assert {k: unconfirmed.value.body()[k] for k in ("prompt_id", "status", "cancel_requested")} == {
        "prompt_id": pid,
        "status": "running",
        "cancel_requested": True,
    }
    await asyncio.sleep(0.3)
    assert (await service.get(pid)).status is JobStatus.RUNNING  # never a false `cancelled`
    stored = await store.get(pid)
    assert stored is not None and stored.end_requested is JobStatus.CANCELLED
    wire.down = False  # the tracker asks again on its own
    await settle(service, pid, JobStatus.CANCELLED)
    assert wire.comfy.interrupted == [pid]


async def test_a_requested_cancel_survives_a_restart(make: Setup) -> None:
    wire, service, _ = await make()
    pid = await running_job(wire, service)
    wire.down = True
    with pytest.raises(Exception, match="could not be asked"):
        await service.cancel(pid)
    await service.tracker.stop()  # the gateway stops with the cancel unconfirmed; ComfyUI still runs it
    wire.down = False
    _, service2, _ = await make(reconcile_interval=0.1, wire=wire)
    assert service2.tracker.jobs[pid].end_requested is JobStatus.CANCELLED
    await settle(service2, pid, JobStatus.CANCELLED)
    assert wire.comfy.interrupted == [pid]
