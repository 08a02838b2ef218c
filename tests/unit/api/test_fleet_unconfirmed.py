"""A job mid-POST when its backend dies (issue 13): the POST /prompt times out or its connection drops and the
backend cannot be asked since. The job moves to another backend at once (the submit answers with it there)
instead of staying `submitting` until the dead backend answers; should that backend come back with the job
after all, it is withdrawn there, so nothing runs twice. With replicas: the replica posting it moves it while
its POST is young, the backend's leader moves rows left `submitting` past `SUBMIT_GRACE`, and the leader
withdraws the job should it still show up on the old backend."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import httpx

from api.jobs import Job, JobStatus
from api.jobs.replica import SUBMIT_GRACE
from tests.unit.api.test_fleet import FleetWire, Make, make, until
from tests.unit.api.test_replica_fleet import Replicas, replicas
from tests.unit.api.test_tracker_service import GRAPH, run_to_end

__all__ = ["make", "replicas"]  # the fixtures, imported to be used here


def cut_mid_post(wire: FleetWire, *, accepted: bool) -> None:
    """The next POST /prompt never gets its answer: the backend goes down while it is on its way (having
    queued the job first when `accepted`: it was cut off rather than killed)."""
    inner = wire.comfy.handle

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/prompt" and not wire.down:
            if accepted:
                inner(request)
            wire.down = True  # from now on every request fails to connect
            raise httpx.ReadTimeout("timed out waiting for the answer", request=request)
        return inner(request)

    wire.comfy.handle = handle  # type: ignore[method-assign]


async def test_a_post_cut_off_by_a_dying_backend_moves_the_job_to_another(make: Make) -> None:
    rig = await make()
    rig.service.confirm_window = 0.1
    cut_mid_post(rig.wires[0], accepted=False)
    job = await rig.service.submit(GRAPH)  # b0 is chosen first (equal loads), then dies mid-POST
    assert job.status is JobStatus.PENDING and job.backend == "b1"
    assert rig.wires[1].comfy.pending_ids == [job.prompt_id]
    stored = await rig.store.get(job.prompt_id)
    assert stored is not None and (stored.status, stored.backend) == (JobStatus.PENDING, "b1")
    assert job.prompt_id in rig.fleet.backends[0].tracker.withdrawals
    run_to_end(rig.wires[1], job.prompt_id)
    done = await rig.service.wait(job.prompt_id, timeout=5)
    assert done.status is JobStatus.COMPLETED and done.backend == "b1"


async def test_a_backend_back_with_the_moved_job_after_all_has_it_withdrawn(make: Make) -> None:
    rig = await make()
    rig.service.confirm_window = 0.1
    cut_mid_post(rig.wires[0], accepted=True)  # b0 queued it, then the connection was lost
    job = await rig.service.submit(GRAPH)
    pid = job.prompt_id
    assert job.backend == "b1" and rig.wires[1].comfy.pending_ids == [pid]
    assert rig.wires[0].comfy.pending_ids == [pid]  # b0 has it too, unknown to the gateway

    rig.wires[0].down = False  # b0 answers again: it must not run the job a second time
    await rig.fleet.backends[0].tracker.refresh_queue()
    assert rig.wires[0].comfy.pending_ids == []
    assert rig.wires[1].comfy.pending_ids == [pid]
    run_to_end(rig.wires[1], pid)
    assert (await rig.service.wait(pid, timeout=5)).status is JobStatus.COMPLETED


async def test_with_no_other_backend_up_the_job_waits_in_the_gateway_not_submitting(make: Make) -> None:
    rig = await make()
    rig.service.confirm_window = 0.1
    rig.wires[1].down = True
    await rig.fleet.check_all()
    await rig.fleet.check_all()  # b1 drained: only b0 takes jobs
    cut_mid_post(rig.wires[0], accepted=False)
    job = await rig.service.submit(GRAPH)
    assert job.status is JobStatus.PENDING and rig.fleet.held(job.prompt_id) is job
    stored = await rig.store.get(job.prompt_id)
    assert stored is not None and (stored.status, stored.backend) == (JobStatus.PENDING, "")
    rig.wires[1].down = False  # b1 is back (b0 is found dead meanwhile): the held job runs on b1
    await rig.fleet.check_all()
    await rig.fleet.check_all()
    assert rig.wires[1].comfy.pending_ids == [job.prompt_id]


async def test_replicas_the_posting_replica_moves_it_and_the_leader_withdraws_a_late_arrival(
    replicas: Callable[[], Awaitable[Replicas]],
) -> None:
    wires, (leader, _standby), (_, service) = await replicas()
    service.confirm_window = 0.1
    cut_mid_post(wires[0], accepted=True)
    job = await service.submit(GRAPH)  # through the standby replica, which leads neither backend
    pid = job.prompt_id
    assert job.backend == "b1" and wires[1].comfy.pending_ids == [pid]
    await until(lambda: pid in leader.backends[1].tracker.jobs)  # b1's leader follows it
    await until(lambda: pid in leader.backends[0].tracker.withdrawals)  # b0's leader heard of the move

    wires[0].down = False
    await leader.backends[0].tracker.refresh_queue()  # b0's leader withdraws the late arrival
    assert wires[0].comfy.pending_ids == []
    run_to_end(wires[1], pid)
    assert (await service.wait(pid, timeout=5)).status is JobStatus.COMPLETED


async def test_replicas_the_leader_moves_a_row_left_submitting_on_a_dead_backend(
    replicas: Callable[[], Awaitable[Replicas]],
) -> None:
    """A replica posted the job and died before it could settle it: the row stays `submitting` on b0, which
    no tracker of the leader holds. Once b0 is drained and the row is past SUBMIT_GRACE, the leader
    moves it."""
    wires, (leader, _), (service, _) = await replicas()
    job = Job(str(uuid.uuid4()), GRAPH, status=JobStatus.SUBMITTING, backend="b0")
    job.created_at = time.time() - SUBMIT_GRACE - 1
    await leader.backends[0].tracker.store.insert(job)
    wires[0].down = True
    await leader.check_all()
    await leader.check_all()
    assert wires[1].comfy.pending_ids == [job.prompt_id]
    moved = await service.get(job.prompt_id)
    assert (moved.status, moved.backend) == (JobStatus.PENDING, "b1")
    assert job.prompt_id in leader.backends[0].tracker.withdrawals
