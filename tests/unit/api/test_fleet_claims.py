"""Moving a `submitting` job is a compare-and-set on its row (issue 13): the replica posting it (its POST
unanswered near SUBMIT_GRACE) and its backend's leader (past it) may both try; the row moves only while it
is still on the backend and `submitting` as read, so one of them moves the job and the other lets it go.

The other replica is played by writes to the same database; backends are the fakes of test_fleet."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from api.fleet.placement import HELD
from api.jobs import Job, JobStatus, JobStore
from tests.unit.api.test_fleet import GRAPH, Make, Rig, make

__all__ = ["make"]  # the fixture, shared with test_fleet

SUBMITTING, PENDING = JobStatus.SUBMITTING, JobStatus.PENDING


async def test_move_if_moves_only_the_row_as_it_was_read(tmp_path: Path) -> None:
    store = JobStore(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    await store.open()
    try:
        job = Job(str(uuid.uuid4()), GRAPH, status=SUBMITTING, backend="b0")
        await store.insert(job)
        assert not await store.move_if(
            job, backend="b0", status=PENDING, to_backend="b1", to_status=SUBMITTING
        )
        assert not await store.move_if(
            job, backend="b2", status=SUBMITTING, to_backend="b1", to_status=PENDING
        )
        assert await store.move_if(
            job, backend="b0", status=SUBMITTING, to_backend="b1", to_status=SUBMITTING
        )
        # The second mover read the same row: it is gone from under it.
        assert not await store.move_if(
            job, backend="b0", status=SUBMITTING, to_backend=HELD, to_status=PENDING
        )
        row = await store.get(job.prompt_id)
        assert row is not None and (row.backend, row.status) == ("b1", SUBMITTING)
        old = Job(str(uuid.uuid4()), GRAPH, status=SUBMITTING, backend=None)  # recorded before the fleet
        await store.insert(old)
        assert await store.move_if(old, backend=None, status=SUBMITTING, to_backend=HELD, to_status=PENDING)
        row = await store.get(old.prompt_id)
        assert row is not None and (row.backend, row.status) == (HELD, PENDING)
    finally:
        await store.close()


async def submitting_on_b0(rig: Rig) -> Job:
    """A job whose POST to b0 had no clear answer (b0 cannot be asked): `submitting` there."""
    b0 = rig.fleet.backends[0].tracker
    job = Job(str(uuid.uuid4()), GRAPH, status=SUBMITTING)
    b0.prepare(job)
    await rig.store.insert(job)
    b0.unconfirmed(job)
    return job


async def moved_by_another_replica(rig: Rig, job: Job, to_backend: str, to_status: JobStatus) -> None:
    copy = Job(job.prompt_id, GRAPH, status=SUBMITTING, backend="b0")
    assert await rig.store.move_if(
        copy, backend="b0", status=SUBMITTING, to_backend=to_backend, to_status=to_status
    )


async def test_the_leaders_drain_lets_go_a_job_the_posting_replica_moved_first(make: Make) -> None:
    rig = await make()
    job = await submitting_on_b0(rig)
    await moved_by_another_replica(rig, job, "b1", SUBMITTING)  # the posting replica sends it to b1
    rig.wires[0].down = True
    await rig.fleet.check_all()
    await rig.fleet.check_all()  # b0 drained: this replica leads it and finds the job `submitting`
    assert job.prompt_id not in rig.fleet.backends[0].tracker.jobs  # let go, not moved a second time
    assert rig.wires[1].comfy.pending_ids == [] and rig.fleet.held_count() == 0  # nothing posted here
    row = await rig.store.get(job.prompt_id)
    assert row is not None and (row.backend, row.status) == ("b1", SUBMITTING)  # as the winner left it


async def test_the_posting_replica_lets_go_a_job_the_leader_moved_first(make: Make) -> None:
    rig = await make()
    job = await submitting_on_b0(rig)
    await moved_by_another_replica(rig, job, HELD, PENDING)  # b0's leader found no backend: held
    assert await rig.fleet.move_unconfirmed(rig.fleet.backends[0].lane, job)  # answered, not 503
    assert job.prompt_id not in rig.fleet.backends[0].tracker.jobs
    assert rig.wires[1].comfy.pending_ids == [] and rig.fleet.held_count() == 0
    row = await rig.store.get(job.prompt_id)
    assert row is not None and (row.backend, row.status) == (HELD, PENDING)


async def test_the_first_mover_claims_the_row_for_where_it_sends_the_job(make: Make) -> None:
    rig = await make()
    job = await submitting_on_b0(rig)
    assert await rig.fleet.move_unconfirmed(rig.fleet.backends[0].lane, job)
    assert rig.wires[1].comfy.pending_ids == [job.prompt_id]
    row = await rig.store.get(job.prompt_id)
    assert row is not None and (row.backend, row.status) == ("b1", PENDING)
    # The leader's copy, read before the move: its compare-and-set finds the row gone from b0.
    stale = Job(job.prompt_id, GRAPH, status=PENDING, backend="b0")
    assert not await rig.store.move_if(
        stale, backend="b0", status=SUBMITTING, to_backend=HELD, to_status=PENDING
    )


async def test_a_claim_the_database_cannot_write_keeps_the_job_where_it_is(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.jobs.store import JobStoreError

    rig = await make()
    job = await submitting_on_b0(rig)

    async def unwritable(*_: object, **__: object) -> bool:
        raise JobStoreError("database unavailable")

    monkeypatch.setattr(rig.store, "move_if", unwritable)
    b0 = rig.fleet.backends[0]
    assert not await rig.fleet.move_unconfirmed(b0.lane, job)  # stays: 503 submit_unconfirmed, as before
    assert b0.tracker.jobs[job.prompt_id] is job and job.status is SUBMITTING
    rig.wires[0].down = True
    await rig.fleet.check_all()
    await rig.fleet.check_all()  # the drain cannot claim it either: kept for the next round
    assert b0.tracker.jobs[job.prompt_id] is job and job.status is SUBMITTING
    assert rig.wires[1].comfy.pending_ids == []
    monkeypatch.undo()
    await rig.fleet.check_all()  # the database answers again: moved once
    assert rig.wires[1].comfy.pending_ids == [job.prompt_id]
