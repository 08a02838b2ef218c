"""JobService and JobTracker against a scripted fake ComfyClient (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest

from api.errors import InvalidWorkflow, JobAlreadyFinished, JobNotFound
from api.jobs import JobService, JobStatus, JobStore, JobTracker
from comfyui_client import (
    ComfyClient,
    ExecutedEvent,
    ExecutingEvent,
    ExecutionStartEvent,
    HistoryEntry,
    JobLostEvent,
    PromptRejected,
    QueueItem,
    QueueSnapshot,
    Submitted,
)
from node_catalog import Catalog

GRAPH = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "t"}},
}


def history(prompt_id: str, outcome: str = "success") -> HistoryEntry:
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
    raw = {
        "outputs": {"2": {"images": [{"filename": "t_00001_.png", "subfolder": "", "type": "output"}]}},
        "status": status,
    }
    return HistoryEntry.from_comfy(prompt_id, raw)


class FakeStream:
    def __init__(self, feed: asyncio.Queue[Any]) -> None:
        self.feed = feed
        self.tracked: set[str] = set()

    def track(self, prompt_id: str) -> None:
        self.tracked.add(prompt_id)

    async def __aenter__(self) -> FakeStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Any]:
        while True:
            yield await self.feed.get()


class FakeClient:
    client_id = "fake-client"

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.running: list[str] = []
        self.histories: dict[str, HistoryEntry] = {}
        self.feed: asyncio.Queue[Any] = asyncio.Queue()
        self.stream = FakeStream(self.feed)
        self.interrupted: list[str] = []
        self.reject: PromptRejected | None = None

    def events(self) -> FakeStream:
        return self.stream

    async def submit(
        self, prompt: Any, *, prompt_id: str | None = None, extra_data: Any = None, front: bool = False
    ) -> Submitted:
        if self.reject is not None:
            raise self.reject
        assert prompt_id is not None
        self.pending.append(prompt_id)
        return Submitted(prompt_id=prompt_id, number=len(self.pending), client_id=self.client_id)

    async def queue(self) -> QueueSnapshot:
        return QueueSnapshot(
            running=[QueueItem(number=0, prompt_id=p) for p in self.running],
            pending=[QueueItem(number=i + 1, prompt_id=p) for i, p in enumerate(self.pending)],
        )

    async def history(self, prompt_id: str) -> HistoryEntry | None:
        return self.histories.get(prompt_id)

    async def delete_pending(self, *prompt_ids: str) -> None:
        self.pending = [p for p in self.pending if p not in prompt_ids]

    async def interrupt(self, prompt_id: str | None = None) -> None:
        assert prompt_id is not None
        self.interrupted.append(prompt_id)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[FakeClient, JobService, JobStore]]:
    store = JobStore(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    await store.open()
    client = FakeClient()
    tracker = JobTracker(
        cast(ComfyClient, client),
        store,
        workflow_timeout=600,
        output_classes={"SaveImage"},
        reconcile_interval=600,
    )
    await tracker.start()
    service = JobService(client, tracker, Catalog.bundled)  # type: ignore[arg-type]
    try:
        yield client, service, store
    finally:
        await tracker.stop()
        await store.close()


async def settle(service: JobService, prompt_id: str, status: JobStatus) -> None:
    for _ in range(200):
        if (await service.get(prompt_id)).status is status:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{prompt_id} never became {status}: {(await service.get(prompt_id)).status}")


async def test_events_drive_a_job_to_completed_from_history(setup: Any) -> None:
    client, service, store = setup
    job = await service.submit(GRAPH, request={"workflow": GRAPH})
    assert (await store.get(job.prompt_id)) is not None
    pid = job.prompt_id
    assert pid in client.stream.tracked
    client.histories[pid] = history(pid)
    for ev in (
        ExecutionStartEvent(prompt_id=pid, timestamp=1000),
        ExecutingEvent(prompt_id=pid, node="2"),
        ExecutedEvent(prompt_id=pid, node="2", output={"images": [{"filename": "t_00001_.png"}]}),
        ExecutingEvent(prompt_id=pid, node=None),
    ):
        client.feed.put_nowait(ev)
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


async def test_reconcile_completes_finished_and_fails_unknown_jobs(setup: Any) -> None:
    client, service, _ = setup
    done = await service.submit(GRAPH)
    gone = await service.submit(GRAPH)
    failed = await service.submit(GRAPH)
    client.pending = []
    client.histories[done.prompt_id] = history(done.prompt_id)
    client.histories[failed.prompt_id] = history(failed.prompt_id, outcome="error")
    await service.tracker.reconcile()
    assert (await service.get(done.prompt_id)).status is JobStatus.COMPLETED
    lost = await service.get(gone.prompt_id)
    assert lost.status is JobStatus.FAILED and lost.error is not None and lost.error.type == "job_lost"
    err = (await service.get(failed.prompt_id)).error
    assert err is not None and (err.node, err.node_type, err.message) == ("2", "SaveImage", "disk full")


async def test_job_lost_event_fails_the_job(setup: Any) -> None:
    client, service, _ = setup
    job = await service.submit(GRAPH)
    client.feed.put_nowait(JobLostEvent(prompt_id=job.prompt_id, reason="ComfyUI restarted"))
    await settle(service, job.prompt_id, JobStatus.FAILED)
    assert (await service.get(job.prompt_id)).error.message == "ComfyUI restarted"


async def test_cancel_pending_and_running(setup: Any) -> None:
    client, service, _ = setup
    pending = await service.submit(GRAPH)
    cancelled = await service.cancel(pending.prompt_id)
    assert cancelled.status is JobStatus.CANCELLED and pending.prompt_id not in client.pending
    assert (await service.cancel(pending.prompt_id)).status is JobStatus.CANCELLED  # idempotent

    running = await service.submit(GRAPH)
    client.pending.remove(running.prompt_id)
    client.running.append(running.prompt_id)
    client.feed.put_nowait(ExecutionStartEvent(prompt_id=running.prompt_id, timestamp=1000))
    await settle(service, running.prompt_id, JobStatus.RUNNING)
    assert (await service.cancel(running.prompt_id)).status is JobStatus.CANCELLED
    assert client.interrupted == [running.prompt_id]


async def test_rejected_or_invalid_submissions_leave_nothing(setup: Any) -> None:
    client, service, store = setup
    with pytest.raises(InvalidWorkflow) as invalid:
        await service.submit({"1": {"class_type": "NoSuchNode", "inputs": {}}})
    assert invalid.value.status_code == 400
    client.reject = PromptRejected(
        {"type": "prompt_outputs_failed_validation", "message": "bad"},
        {"2": {"errors": [{"type": "x", "message": "y", "details": "z"}]}},
    )
    with pytest.raises(InvalidWorkflow) as rejected:
        await service.submit(GRAPH)
    assert rejected.value.node_errors["2"]["errors"][0]["type"] == "x"
    assert await store.recent() == [] and service.tracker.jobs == {}
    with pytest.raises(JobNotFound):
        await service.get("nope")


async def test_wait_returns_terminal_job(setup: Any) -> None:
    client, service, _ = setup
    job = await service.submit(GRAPH)
    client.histories[job.prompt_id] = history(job.prompt_id)
    waiter = asyncio.create_task(service.wait(job.prompt_id, timeout=5))
    await asyncio.sleep(0.05)
    client.feed.put_nowait(ExecutingEvent(prompt_id=job.prompt_id, node=None))
    assert (await waiter).status is JobStatus.COMPLETED


async def test_job_that_ends_before_submit_returns_is_recorded_finished(setup: Any) -> None:
    client, service, store = setup
    real_submit = client.submit

    async def racing_submit(prompt: Any, **kwargs: Any) -> Submitted:
        submitted: Submitted = await real_submit(prompt, **kwargs)
        pid = submitted.prompt_id
        client.pending.remove(pid)
        client.histories[pid] = history(pid)
        client.feed.put_nowait(ExecutionStartEvent(prompt_id=pid, timestamp=1000))
        client.feed.put_nowait(ExecutingEvent(prompt_id=pid, node=None))
        await asyncio.sleep(0.1)  # the listener settles the job before ComfyUI's answer is "back"
        return submitted

    client.submit = racing_submit
    job = await service.submit(GRAPH)
    assert (await service.get(job.prompt_id)).status is JobStatus.COMPLETED
    stored = await store.get(job.prompt_id)
    assert stored is not None and stored.status is JobStatus.COMPLETED and stored.outputs
    assert service.tracker.jobs == {}
