from __future__ import annotations

import pytest

from api.jobs.state import Job, JobError, JobStatus
from api.jobs.store import IdempotencyKeyTaken, JobStore
from comfyui_client import OutputRef


async def test_round_trip_active_and_stable_client_id(job_db_url: str) -> None:
    store = JobStore(job_db_url)
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
    reopened = JobStore(job_db_url)
    await reopened.open()
    try:
        assert await reopened.client_id() == first
    finally:
        await reopened.close()


async def test_every_access_of_the_store(job_db_url: str) -> None:
    """The rest of the store's surface, the same on every database: idempotency keys, recent order, output,
    upload and run owners, keys."""
    store = JobStore(job_db_url)
    await store.open()
    try:
        first = Job(prompt_id="a", workflow={}, idempotency_key="alice:1", request_hash="h1", owner="alice")
        first.outputs.append(OutputRef(node_id="9", filename="x.png", subfolder="s"))
        await store.insert(first)
        await store.insert(Job(prompt_id="b", workflow={}, owner="bob", created_at=first.created_at + 1))
        with pytest.raises(IdempotencyKeyTaken):
            await store.insert(Job(prompt_id="c", workflow={}, idempotency_key="alice:1"))
        assert await store.get("c") is None  # the failed insert left nothing behind
        found = await store.by_idempotency_key("alice:1")
        assert found is not None and found.prompt_id == "a" and found.request_hash == "h1"
        await store.release_idempotency_key("a")
        assert await store.by_idempotency_key("alice:1") is None
        assert [j.prompt_id for j in await store.recent()] == ["b", "a"]
        assert await store.output_owners("output", "s", "x.png") == ["alice"]
        first.outputs.append(OutputRef(node_id="9", filename="y.png"))
        await store.save(first)  # outputs rewritten, not duplicated
        assert await store.output_owners("output", "s", "x.png") == ["alice"]
        assert await store.output_owners("output", "", "y.png") == ["alice"]
        await store.delete("b")
        assert await store.get("b") is None

        assert await store.upload_owner("input", "", "in.png") == (False, None)
        await store.record_upload("input", "", "in.png", "alice")
        await store.record_upload("input", "", "in.png", "bob")
        assert await store.upload_owner("input", "", "in.png") == (True, "bob")
        await store.record_run("thread-1", "alice")
        assert await store.run_owner("thread-1") == (True, "alice")
        assert await store.run_owner("thread-2") == (False, None)

        assert not await store.has_keys()
        await store.add_key("ci", "hash-1", "cgw_ab", ["read"])
        assert await store.has_keys() and await store.key_by_hash("hash-1") == ("ci", "hash-1", ["read"])
        assert await store.revoke_key("ci") and await store.key_by_hash("hash-1") is None
        assert [k["name"] for k in await store.keys()] == ["ci"]
    finally:
        await store.close()
