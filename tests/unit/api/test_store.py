from __future__ import annotations

from pathlib import Path

from api.jobs.state import Job, JobError, JobStatus
from api.jobs.store import JobStore
from comfyui_client import OutputRef


async def test_round_trip_active_and_stable_client_id(tmp_path: Path) -> None:
    store = JobStore(f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'jobs.db'}")
    await store.open()
    try:
        job = Job(prompt_id="p1", workflow={"1": {"class_type": "X", "inputs": {}}}, request={"prompt": "hi"})
        await store.insert(job)
        assert [j.prompt_id for j in await store.active()] == ["p1"]
        job.status = JobStatus.FAILED
        job.error = JobError(message="boom", type="ValueError", node="1", node_type="X")
        job.outputs.append(OutputRef(node_id="1", filename="a.mp4", kind="video"))
        await store.save(job)
        loaded = await store.get("p1")
        assert loaded is not None and loaded.status is JobStatus.FAILED
        assert (
            loaded.error == job.error and loaded.outputs == job.outputs and loaded.request == {"prompt": "hi"}
        )
        assert await store.active() == []
        assert await store.get("nope") is None
        first = await store.client_id()
        assert first == await store.client_id()
    finally:
        await store.close()
    reopened = JobStore(f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'jobs.db'}")
    await reopened.open()
    try:
        assert await reopened.client_id() == first
    finally:
        await reopened.close()
