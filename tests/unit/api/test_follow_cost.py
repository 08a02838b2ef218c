"""Following a submitted job costs ComfyUI as few reads as the job needs (issue 13): its /history is read once
however many followers ask about its end, and a `status` event whose queue size the events already explain
asks no /queue. At the wire: the tests' fake ComfyUI, its requests counted."""

from __future__ import annotations

import asyncio
from typing import Any

from api.jobs import JobStatus
from api.jobs.live_state import QueueView
from comfyui_client import QueueItem, QueueSnapshot
from tests.unit.api.test_hot_reads import until
from tests.unit.api.test_tracker_service import GRAPH, Setup, history, make, run_to_end, settle
from tests.unit.comfyui_client._comfy_fakes import frame

__all__ = ["make"]  # the fixture, used by name


def reads(wire: Any, path: str) -> int:
    return sum(1 for r in wire.comfy.requests if r.url.path == path and r.method == "GET")


def status(queue_remaining: int) -> str:
    return frame("status", status={"exec_info": {"queue_remaining": queue_remaining}})


async def test_a_job_found_ended_by_the_periodic_check_is_settled_without_reading_its_history_again(
    make: Setup,
) -> None:
    wire, service, _ = await make(reconcile_interval=0.05)  # the stream checks its tracked jobs often
    job = await service.submit(GRAPH)
    pid = job.prompt_id
    wire.comfy.finish(pid, history(pid))  # ComfyUI wrote the history; its last events are not sent yet
    await until(lambda: reads(wire, f"/history/{pid}") == 1)  # the check found it ended
    run_to_end(wire, pid)  # the events arrive: the tracker settles the job from its history
    await settle(service, pid, JobStatus.COMPLETED)
    done = await service.get(pid)
    assert [o.filename for o in done.outputs] == ["t_00001_.png"]
    assert reads(wire, f"/history/{pid}") == 1  # before: twice (the check's read, then the settle's)


async def test_each_job_of_a_run_reads_its_history_once(make: Setup) -> None:
    wire, service, _ = await make(reconcile_interval=0.05)
    jobs = [await service.submit(GRAPH) for _ in range(5)]
    for job in jobs:
        wire.comfy.finish(job.prompt_id, history(job.prompt_id))
    await asyncio.sleep(0.2)  # several periodic checks see them ended before their events come
    for job in jobs:
        run_to_end(wire, job.prompt_id)
    for job in jobs:
        await settle(service, job.prompt_id, JobStatus.COMPLETED)
    assert [reads(wire, f"/history/{j.prompt_id}") for j in jobs] == [1] * 5


async def test_a_status_event_the_view_accounts_for_reads_no_queue(make: Setup) -> None:
    wire, service, _ = await make()
    tracker = service.tracker
    await until(lambda: tracker.connected and tracker.queue_view.valid)
    job = await service.submit(GRAPH)
    await asyncio.sleep(0.1)  # the stream's check of the new job (one /queue) is done
    before = reads(wire, "/queue")

    wire.send(status(1))  # the submit ComfyUI reports: the view has the job pending already
    await asyncio.sleep(0.1)
    assert reads(wire, "/queue") == before
    snapshot, _ = await service.queue()
    assert [i.prompt_id for i in snapshot.pending] == [job.prompt_id]

    wire.send(status(2))  # a job the events did not announce (another client's): the view asks ComfyUI
    await until(lambda: reads(wire, "/queue") == before + 1)

    run_to_end(wire, job.prompt_id)
    await settle(service, job.prompt_id, JobStatus.COMPLETED)
    await asyncio.sleep(0.05)
    before = reads(wire, "/queue")
    wire.send(status(0))  # its end, which the events told already
    await asyncio.sleep(0.1)
    assert reads(wire, "/queue") == before


async def test_a_status_event_refreshes_an_invalid_view_or_one_without_a_count(make: Setup) -> None:
    wire, service, _ = await make()
    tracker = service.tracker
    await until(lambda: tracker.connected and tracker.queue_view.valid)
    await asyncio.sleep(0.05)
    before = reads(wire, "/queue")
    wire.send(frame("status", status={}))  # no queue size: nothing to compare, ComfyUI is asked
    await until(lambda: reads(wire, "/queue") == before + 1)
    tracker.queue_view.invalidate()  # the last /queue failed: the view may be wrong whatever the count
    wire.send(status(0))
    await until(lambda: reads(wire, "/queue") == before + 2)


async def test_a_job_submitted_while_the_socket_stays_up_is_not_checked_at_once(make: Setup) -> None:
    wire, service, _ = await make()
    tracker = service.tracker
    await until(lambda: tracker.connected and tracker.queue_view.valid)
    await asyncio.sleep(0.05)
    before = reads(wire, "/queue")
    job = await service.submit(GRAPH)  # every event of it reaches the stream: nothing to check
    assert tracker.stream is not None and job.prompt_id in tracker.stream.tracked
    await asyncio.sleep(0.1)
    assert reads(wire, "/queue") == before  # before: one per submit (the stream's check of the new job)


async def test_a_job_submitted_across_a_reconnect_is_checked_at_once(make: Setup) -> None:
    wire, service, _ = await make()
    tracker = service.tracker
    await until(lambda: tracker.connected and tracker.queue_view.valid)

    async def reconnect(_: str) -> None:  # the socket drops while POST /prompt is on its way
        wire.connector.current.drop()
        async with asyncio.timeout(5):
            await wire.connector.wait_connections(2)
        await until(lambda: tracker.connected)

    stream = tracker.stream
    assert stream is not None
    checked: list[str] = []
    request_check = stream._request_check
    stream._request_check = lambda ids: (checked.extend(ids), request_check(ids))[-1]  # type: ignore[method-assign]
    wire.on_prompt = reconnect
    job = await service.submit(GRAPH)
    wire.on_prompt = None
    # Its events may have been lost with the socket: the stream asks ComfyUI about it (it is queued).
    assert job.prompt_id in checked
    await asyncio.sleep(0.1)
    assert (await service.get(job.prompt_id)).status is JobStatus.PENDING


def test_the_view_counts_what_comfyui_says_before_the_events_that_follow() -> None:
    view = QueueView()
    assert not view.accounts_for(0)  # no snapshot yet
    running, pending = QueueItem(number=1, prompt_id="ours"), QueueItem(number=2, prompt_id="theirs")
    view.replace(QueueSnapshot(running=[running], pending=[pending]), 0.0)
    assert view.accounts_for(2) and not view.accounts_for(None)
    assert not view.accounts_for(3) and view.accounts_for(3, in_flight=1)  # our submit, not answered yet
    assert not view.accounts_for(4, in_flight=1)
    assert not view.accounts_for(1) and view.accounts_for(1, ours={"ours"})  # ours ends; its events follow
    assert not view.accounts_for(0, ours={"ours"})  # another one left too: ask ComfyUI
    view.invalidate()
    assert not view.accounts_for(2)
