"""Ending a job on purpose (a cancel, a timeout): recorded as done only once ComfyUI confirmed it.

Asking is not doing: a deleted queue entry may already have started, an interrupt lands at the next node
boundary or not at all (ComfyUI ignores an interrupt by id for a job that is not the one running), and a job
may finish before either arrives. So the gateway first records what it wants (`Job.end_requested` and its
reason, persisted: a restart keeps asking), then asks ComfyUI, then reads the answer: the job gone from
/queue without a history entry (deleted before it ran), its history entry, or the stream's
`execution_interrupted` event (the tracker applies those with the recorded reason). Until then the job
keeps the status ComfyUI last showed; the tracker asks again every `reconcile_interval`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from api.jobs import settle
from api.jobs.errors import CancelUnconfirmed
from api.jobs.settle import locate
from api.jobs.state import Job, JobError, JobStatus
from comfyui_client import ComfyError

if TYPE_CHECKING:
    from api.jobs.tracker import JobTracker

log = logging.getLogger(__name__)

CONFIRM_POLL = 0.05  # seconds between looks at the job while a cancel waits for ComfyUI's answer
CONFIRM_ASK_EVERY = 0.5  # seconds between reads of /queue and /history during that wait


async def request(tracker: JobTracker, job: Job, status: JobStatus, reason: JobError) -> None:
    """Record the end we want before asking for it. The first request wins: a cancel after a timeout was
    asked for keeps the timeout (it is what the gateway did first)."""
    if job.end_requested is None:
        job.end_requested, job.end_reason = status, reason
        await tracker.save(job)
        if tracker.replica is not None:  # the leader applies ComfyUI's confirmation with this reason
            await tracker.replica.share(job, [])


async def ask(tracker: JobTracker, job: Job) -> str:
    """Ask ComfyUI once to end the job and apply what it says; where ComfyUI has it (settle.Where).

    Raises `ComfyError` when ComfyUI cannot be reached (nothing is recorded then). The delete comes first:
    it is harmless for a job that runs or ended, and a job deleted from the pending list can no longer
    start after the /queue read below. Asking again is safe: ComfyUI interrupts by id only the job it runs.
    It also clears its interrupt flag when a job's execution begins, so an interrupt that lands between the
    job leaving the queue and that start is lost: a job still running at the next ask is interrupted again.
    """
    pid = job.prompt_id
    if job.terminal or job.end_requested is None:
        return "finished"
    await tracker.client.delete_pending(pid)
    location = await locate(tracker.client, pid)
    if location.where == "running":
        await tracker.client.interrupt(pid)  # by id: never someone else's job
    elif location.where == "finished" and location.entry is not None:
        await settle.settle_from_history(
            tracker, job, location.entry
        )  # interrupted -> our reason; else its outcome
    elif location.where == "absent":
        # Neither queued, running nor in the history: deleted before it ran (or never received): confirmed.
        await tracker.finish(job, job.end_requested, error=job.end_reason)
    return location.where


async def confirm(tracker: JobTracker, job: Job, *, window: float) -> None:
    """Wait up to `window` s for ComfyUI to confirm the end (the stream's events end the job as they come;
    /queue and /history are read now and then in case an event is missed). A failed read ends the wait."""
    deadline = time.monotonic() + window
    last_ask = time.monotonic()
    while not job.terminal and time.monotonic() < deadline:
        await asyncio.sleep(CONFIRM_POLL)
        if job.terminal or time.monotonic() - last_ask < CONFIRM_ASK_EVERY:
            continue
        last_ask = time.monotonic()
        try:
            # A job pending at the first ask that started since, or whose interrupt was lost, is interrupted.
            await ask(tracker, job)
        except ComfyError as exc:
            log.info("cannot confirm the end of job %s now: %s", job.prompt_id, exc)
            return


async def cancel(tracker: JobTracker, job: Job, *, window: float) -> Job:
    """Cancel a pending or running job; the job as ComfyUI left it (terminal once confirmed, else as it
    was, with `end_requested` set). `CancelUnconfirmed` (503) when ComfyUI cannot be asked."""
    if job.status is JobStatus.SUBMITTING:
        tracker.guard(job.prompt_id)  # should its POST still arrive, ComfyUI never runs it
    reason = JobError(message="cancelled by request", type="cancelled")
    await request(tracker, job, JobStatus.CANCELLED, reason)
    try:
        where = await ask(tracker, job)
    except ComfyError as exc:
        raise CancelUnconfirmed(
            f"ComfyUI could not be asked to cancel job {job.prompt_id} ({exc}); the cancel is recorded and "
            f"asked again until ComfyUI confirms it: the job is {job.status.value} until then",
            extra={"prompt_id": job.prompt_id, "status": job.status.value, "cancel_requested": True},
        ) from exc
    if where == "running" and not job.terminal:
        log.info("job %s interrupted on request; waiting for ComfyUI to confirm", job.prompt_id)
    await confirm(tracker, job, window=window)
    return job


def timeout_reason(job: Job, workflow_timeout: float) -> JobError:
    return JobError(
        message=f"the job ran longer than WORKFLOW_TIMEOUT ({workflow_timeout:g} s)",
        type="timeout",
        node=(job.current_node or {}).get("id"),
        node_type=(job.current_node or {}).get("class_type"),
    )


async def time_out(tracker: JobTracker, job: Job) -> None:
    """The watchdog's interrupt of a job past `workflow_timeout`: the job becomes `timeout` once ComfyUI
    reports the interruption (or its history shows the job ended); it stays running until then. Never
    waits: the watchdog watches every job."""
    log.warning("job %s ran longer than %.0f s: interrupting", job.prompt_id, tracker.workflow_timeout)
    await request(tracker, job, JobStatus.TIMEOUT, timeout_reason(job, tracker.workflow_timeout))
    try:
        await ask(tracker, job)
    except ComfyError as exc:  # asked again every reconcile_interval
        log.warning("could not interrupt timed-out job %s on ComfyUI: %s", job.prompt_id, exc)


async def ask_again(tracker: JobTracker) -> None:
    """Every requested end ComfyUI has not confirmed yet (ComfyUI was down, a lost event, a restart) is
    asked again; stops at the first failure (ComfyUI is down: the next round tries again)."""
    for job in [j for j in tracker.jobs.values() if j.awaiting_end]:
        if job.status is JobStatus.SUBMITTING:
            continue  # settled by resolve_submitting first (it may never have reached ComfyUI)
        try:
            await ask(tracker, job)
        except ComfyError as exc:
            log.info("the requested end of job %s is still unconfirmed: %s", job.prompt_id, exc)
            return
