"""Deferred job writes (issue 13): a job's unfinished-state rows ride with its next transaction, so a short
job costs two transactions (its insert before the POST, its end), not four; nothing is lost when nothing
else comes (the linger) or at close."""

from __future__ import annotations

import asyncio
from typing import Any

from api.jobs import JobService, JobStatus, JobStore
from api.jobs.group_commit import GroupCommit
from api.jobs.state import Job
from tests.unit.api.test_tracker_service import GRAPH, WAIT, make, run_to_end, settle, setup

__all__ = ["make", "setup"]  # fixtures shared with test_tracker_service


async def test_a_deferred_write_rides_with_the_next_one_or_goes_alone_after_the_linger() -> None:
    flushed: list[list[tuple[str, int]]] = []

    async def flush(items: list[tuple[str, int]]) -> None:
        flushed.append(items)

    commits: GroupCommit[tuple[str, int]] = GroupCommit(flush, linger=0.05, key=lambda item: item)
    commits.defer(("save", 1))
    commits.defer(("save", 1))  # the same row queued already: once
    commits.defer(("save", 2))
    await asyncio.sleep(0)
    assert flushed == []  # nobody waits for these: no transaction of their own yet
    await commits.write(("insert", 3))
    assert flushed == [[("save", 1), ("save", 2), ("insert", 3)]]
    commits.defer(("save", 1))  # taken by that batch: queued again
    await asyncio.sleep(0.02)
    assert len(flushed) == 1
    await asyncio.sleep(0.1)
    assert flushed[1:] == [[("save", 1)]]  # alone, within the linger
    commits.defer(("save", 4))
    await commits.settle()  # before closing: at once
    assert flushed[2:] == [[("save", 4)]] and commits.batches == 3


async def test_a_failed_deferred_write_is_logged_not_raised(caplog: Any) -> None:
    async def flush(items: list[int]) -> None:
        raise ValueError("database gone")

    commits: GroupCommit[int] = GroupCommit(flush, linger=0.01)
    commits.defer(1)
    await asyncio.sleep(0.05)
    assert "deferred write failed" in caplog.text


async def test_a_short_job_is_written_twice_and_its_end_is_on_record(
    setup: tuple[Any, JobService, JobStore],
) -> None:
    wire, service, store = setup
    before = store._commits.batches
    job = await asyncio.wait_for(service.submit(GRAPH), WAIT)
    assert store._commits.batches - before == 1  # the `submitting` insert, before the POST
    run_to_end(wire, job.prompt_id)
    await settle(service, job.prompt_id, JobStatus.COMPLETED)
    for _ in range(500):
        stored = await store.get(job.prompt_id)
        if stored is not None and stored.status is JobStatus.COMPLETED:
            break
        await asyncio.sleep(0.01)
    assert stored is not None and stored.status is JobStatus.COMPLETED and stored.outputs
    assert store._commits.batches - before == 2  # pending, running, outputs and the end: one transaction


async def test_a_pending_job_is_written_within_the_linger(setup: tuple[Any, JobService, JobStore]) -> None:
    _, service, store = setup
    job = await asyncio.wait_for(service.submit(GRAPH), WAIT)
    row = await store.get(job.prompt_id)
    assert row is not None and row.status is JobStatus.SUBMITTING  # its `pending` write is deferred
    await asyncio.sleep(store._commits.linger + 0.2)
    row = await store.get(job.prompt_id)
    assert row is not None and row.status is JobStatus.PENDING


async def test_close_writes_what_is_deferred(tmp_path: Any) -> None:
    store = JobStore(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    await store.open()
    job = Job(prompt_id="p1", workflow=GRAPH)
    await store.insert(job)
    job.status = JobStatus.PENDING
    store.save_behind(job)
    await store.close()
    again = JobStore(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    await again.open()
    try:
        row = await again.get("p1")
        assert row is not None and row.status is JobStatus.PENDING
    finally:
        await again.close()
