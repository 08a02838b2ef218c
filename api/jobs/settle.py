"""Where a job is on ComfyUI, asked rather than guessed: queued, running, finished, or absent; and how what
ComfyUI says (its /queue, its /history) becomes the tracker's job state.

Used to settle a submission whose POST /prompt got no clear answer (a timeout, a dropped connection, a
crash of the gateway between writing the job's row and hearing back), before answering and at start-up.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from api.jobs.state import Job, JobError, JobStatus
from comfyui_client import ComfyError, OutputRef

if TYPE_CHECKING:
    from api.jobs.tracker import JobTracker
    from comfyui_client import ComfyClient, HistoryEntry

log = logging.getLogger(__name__)

HISTORY_AFTER_FINISH_TIMEOUT = 2.0  # seconds a finished job's history entry may take to appear

Where = Literal["queued", "running", "finished", "absent"]


@dataclass(frozen=True)
class Location:
    where: Where
    entry: HistoryEntry | None = None  # set when finished

    @property
    def known(self) -> bool:
        return self.where != "absent"


async def locate(client: ComfyClient, prompt_id: str) -> Location:
    """Ask /queue, then /history (ComfyError when ComfyUI does not answer).

    The order matters: ComfyUI moves a job from its queue to its history under one lock, so a job absent
    from the queue at the first question and from the history at the second had not arrived at the first.
    """
    snapshot = await client.queue()
    if snapshot.is_running(prompt_id):
        return Location("running")
    if prompt_id in snapshot:
        return Location("queued")
    entry = await client.history(prompt_id)
    return Location("finished", entry) if entry is not None else Location("absent")


def never_sent(exc: ComfyError) -> bool:
    """The request cannot have reached ComfyUI: the connection itself was refused or never made."""
    import httpx

    from comfyui_client import ComfyUnavailable

    return isinstance(exc, ComfyUnavailable) and isinstance(
        exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout
    )


async def resolve_submitting(tracker: JobTracker) -> None:
    """Settle the tracker's jobs left `submitting` (a crash between their row and ComfyUI's answer, or ComfyUI
    unreachable when it was asked) by asking ComfyUI; while it does not answer they stay `submitting`."""
    now = time.monotonic()
    for prompt_id in [p for p, expiry in tracker.withdrawals.items() if expiry < now]:
        tracker.withdrawals.pop(prompt_id, None)
    for job in list(tracker.jobs.values()):
        if job.status is not JobStatus.SUBMITTING or tracker.is_submitting(job.prompt_id):
            continue
        if tracker.replica is not None and tracker.replica.in_flight(job):
            continue  # another replica may still be posting it
        try:
            location = await locate(tracker.client, job.prompt_id)
        except ComfyError as exc:
            log.info("job %s stays submitting: ComfyUI cannot be asked (%s)", job.prompt_id, exc)
            return
        await apply_location(tracker, job, location, why="ComfyUI never received it (checked at start-up)")


async def apply_location(tracker: JobTracker, job: Job, location: Location, *, why: str) -> None:
    """What ComfyUI said about a submitting job becomes its state: followed from now on, or failed."""
    if not location.known:
        await tracker.not_submitted(job, why)
        return
    await tracker.submitted(job, location.entry)
    if location.where == "running":
        tracker.schedule_queue_refresh()


async def finalize(tracker: JobTracker, job: Job) -> None:
    """The job ended on ComfyUI: settle it from /history (outcome and the full output list)."""
    if job.terminal or job.prompt_id in tracker.finalizing:
        return
    pid = job.prompt_id
    tracker.finalizing.add(pid)
    try:
        try:
            entry = await tracker.client.history_after_finish(pid, timeout=HISTORY_AFTER_FINISH_TIMEOUT)
        except ComfyError as exc:
            log.warning("could not read the history of finished job %s: %s", pid, exc)
            entry = None
        if entry is not None:
            await settle_from_history(tracker, job, entry)
        elif not job.terminal:
            # An error would have ended the job with its execution_error event already; a success with
            # what the events told us beats a job stuck running.
            log.warning("job %s ended without a readable history entry: completed from its events", pid)
            await tracker.finish(job, JobStatus.COMPLETED)
    finally:
        tracker.finalizing.discard(pid)


async def settle_from_history(tracker: JobTracker, job: Job, entry: HistoryEntry) -> None:
    if job.terminal:
        return
    outputs = [OutputRef.from_file(f) for f in entry.files if f.is_file]
    if entry.started_at and job.started_at is None:
        job.started_at = entry.started_at / 1000.0
    if entry.outcome == "success":
        await tracker.finish(job, JobStatus.COMPLETED, outputs=outputs)
    elif entry.outcome == "error":
        error = JobError.from_execution_error(entry.error or {})
        await tracker.finish(job, JobStatus.FAILED, outputs=outputs, error=error)
    elif job.end_requested is not None:  # the interrupt we asked for (a timeout or a cancel)
        await tracker.finish(job, job.end_requested, outputs=outputs, error=job.end_reason)
    else:
        error = JobError.from_interruption(entry.interruption or {})
        await tracker.finish(job, JobStatus.CANCELLED, outputs=outputs, error=error)
