"""Issue 13, submit speed: what made a submit cheaper keeps every guarantee it had.

- job writes are group-committed (api.jobs.group_commit): concurrent ones share a transaction, a bad one
  fails alone, a SQLite write lock held elsewhere makes the batch wait in a thread, never on the event loop;
- validation verdicts are remembered per catalog, a small workflow is read on the event loop within the
  same budget;
- a submit answers before its `pending` write: a gateway that stops before that write still loses nothing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from api.errors import InvalidWorkflow
from api.jobs import JobService, JobStatus, JobStore
from api.jobs.group_commit import GroupCommit
from api.jobs.service import Lane
from api.jobs.state import Job
from api.jobs.store import IdempotencyKeyTaken
from api.workflow_intake import Verdicts, off_loop
from node_catalog import Catalog
from tests.unit.api.test_tracker_service import GRAPH, WAIT, Setup, make, run_to_end, settle, setup

__all__ = ["make", "setup"]  # fixtures shared with test_tracker_service


async def test_concurrent_writes_share_transactions(job_db_url: str) -> None:
    store = JobStore(job_db_url)
    await store.open()
    try:
        jobs = [Job(prompt_id=f"p{i}", workflow=GRAPH) for i in range(32)]
        await asyncio.gather(*(store.insert(job) for job in jobs))
        inserted = store._commits.batches
        assert inserted <= 2, inserted  # all queued before the writer ran: one transaction
        for job in jobs:
            job.status = JobStatus.PENDING
        await asyncio.gather(*(store.save(job) for job in jobs), *(store.save(job) for job in jobs[:8]))
        assert store._commits.batches - inserted <= 2
        assert {j.prompt_id: j.status for j in await store.active()} == {
            j.prompt_id: JobStatus.PENDING for j in jobs
        }
    finally:
        await store.close()


async def test_a_bad_write_fails_alone_and_nothing_of_it_stays(job_db_url: str) -> None:
    store = JobStore(job_db_url)
    await store.open()
    try:
        await store.insert(Job(prompt_id="first", workflow={}, idempotency_key="alice:1"))
        results = await asyncio.gather(
            store.insert(Job(prompt_id="a", workflow={})),
            store.insert(Job(prompt_id="taken", workflow={}, idempotency_key="alice:1")),
            store.insert(Job(prompt_id="b", workflow={})),
            return_exceptions=True,
        )
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], IdempotencyKeyTaken)
        assert {j.prompt_id for j in await store.active()} == {"first", "a", "b"}
    finally:
        await store.close()


async def test_a_save_of_a_missing_row_adds_it_and_a_finished_row_never_reopens(job_db_url: str) -> None:
    store = JobStore(job_db_url)
    await store.open()
    try:
        done = Job(prompt_id="done", workflow={}, status=JobStatus.COMPLETED)
        stale = Job(prompt_id="done", workflow={}, status=JobStatus.RUNNING)  # a replica's old copy
        await asyncio.gather(store.save(done), store.save(Job(prompt_id="new", workflow={})))
        await store.save(stale)
        assert (await store.get("done")).status is JobStatus.COMPLETED  # type: ignore[union-attr]
        assert (await store.get("new")) is not None
    finally:
        await store.close()


async def test_a_sqlite_write_lock_held_elsewhere_waits_in_a_thread_not_on_the_loop(tmp_path: Path) -> None:
    """The batch runs on the event loop only when the lock is free at once: held by another connection, it
    runs in a worker thread that waits for it, and the loop keeps serving meanwhile."""
    path = tmp_path / "jobs.db"
    store = JobStore(f"sqlite+aiosqlite:///{path}")
    await store.open()
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        locker.execute("BEGIN IMMEDIATE")  # another writer holds the write lock for 0.5 s
        threading.Timer(0.5, locker.execute, args=("COMMIT",)).start()
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        await store.insert(Job(prompt_id="waited", workflow={}))
        ticker.cancel()
        assert time.monotonic() - started >= 0.4 and ticks >= 10  # it waited, the loop did not
        assert store._sqlite is not None and store._sqlite.deferred == 1
        assert (await store.get("waited")) is not None
    finally:
        locker.close()
        await store.close()


async def test_group_commit_retries_a_failed_batch_item_by_item() -> None:
    flushed: list[list[int]] = []

    async def flush(items: list[int]) -> None:
        flushed.append(items)
        if 13 in items:
            raise ValueError("unlucky")

    commits: GroupCommit[int] = GroupCommit(flush)
    results = await asyncio.gather(*(commits.write(i) for i in (1, 13, 2)), return_exceptions=True)
    assert results[0] is None and isinstance(results[1], ValueError) and results[2] is None
    assert flushed == [[1, 13, 2], [1], [13], [2]]  # nothing of the failed batch was written: one by one


async def test_validation_verdicts_are_remembered_per_catalog(
    setup: tuple[Any, JobService, JobStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    import node_catalog.validation

    _, service, _ = setup
    calls = 0
    real = node_catalog.validation.validate

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(node_catalog.validation, "validate", counting)
    await service.validate(GRAPH)
    await service.validate({k: dict(v) for k, v in reversed(GRAPH.items())})  # the same graph, other order
    assert calls == 1
    other = Lane(service.client, service.tracker, lambda: Catalog.from_object_info({}))
    with pytest.raises(InvalidWorkflow):  # a new catalog decides anew (this one knows no node)
        await service.validate(GRAPH, other)
    bad = {"1": {"class_type": "NoSuchNode", "inputs": {}}}
    for _ in range(2):
        with pytest.raises(InvalidWorkflow):
            await service.validate(bad)
    assert calls == 4  # a rejected graph is checked every time (a file it misses may arrive)


def test_verdicts_are_bounded_and_keyed_by_content() -> None:
    verdicts = Verdicts(limit=2)
    catalog = object()
    keys = [Verdicts.key({"n": i}) for i in range(3)]
    assert Verdicts.key({"a": 1, "b": 2}) == Verdicts.key({"b": 2, "a": 1})
    assert Verdicts.key({"x": float("nan")}) is None  # not JSON: validated every time, off the loop
    for key in keys:
        assert key is not None
        verdicts.add(catalog, key, "ok")
    assert verdicts.get(catalog, keys[0]) is None  # the oldest left
    assert verdicts.get(catalog, keys[2]) == "ok" and verdicts.get(object(), keys[2]) is None


async def test_a_small_workflow_is_read_on_the_loop_within_the_same_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_thread(*_: Any, **__: Any) -> Any:
        raise AssertionError("a small input must not go to a thread")

    monkeypatch.setattr(asyncio, "to_thread", no_thread)
    assert await off_loop(lambda: 42, budget=1.0, what="reading", inline=True) == 42

    def slow() -> int:
        time.sleep(0.01)
        return 1

    with pytest.raises(InvalidWorkflow) as err:
        await off_loop(slow, budget=0.001, what="reading the workflow", inline=True)
    assert err.value.error is not None and err.value.error["type"] == "limit_exceeded"


async def test_submit_answers_before_the_pending_write_and_a_stop_then_loses_nothing(make: Setup) -> None:
    """The answer does not wait for the `pending` write; a gateway that stops before it (the write never
    happens) leaves the row `submitting`, and the next one finds the job in ComfyUI's queue and follows it."""
    wire, service, store = await make(reconcile_interval=0.1)
    written = asyncio.Event()

    async def stuck(job: Job) -> None:  # the database never answers this gateway's later writes
        written.set()
        await asyncio.Event().wait()

    store.save = stuck  # type: ignore[method-assign]
    store.save_behind = lambda job: written.set()  # type: ignore[method-assign]  # deferred, never written
    job = await asyncio.wait_for(service.submit(GRAPH), WAIT)
    assert written.is_set() and service.tracker.jobs[job.prompt_id].status is JobStatus.PENDING
    row = await store.get(job.prompt_id)
    assert row is not None and row.status is JobStatus.SUBMITTING  # recorded before ComfyUI got it
    _, again, again_store = await make(wire=wire, reconcile_interval=0.1)
    await settle(again, job.prompt_id, JobStatus.PENDING)  # settled from ComfyUI's queue
    run_to_end(wire, job.prompt_id)
    await settle(again, job.prompt_id, JobStatus.COMPLETED)
    for _ in range(500):
        if (row := await again_store.get(job.prompt_id)) is not None and row.status is JobStatus.COMPLETED:
            break
        await asyncio.sleep(0.01)
    assert row is not None and row.status is JobStatus.COMPLETED
    del store.save_behind
    del store.save  # the first gateway's store answers again (its teardown writes its stale copy: refused)
