"""What the tracker keeps in memory so reads never wait on ComfyUI or the database.

`QueueView`: ComfyUI's queue as the gateway knows it. A /queue snapshot (taken on connect, on every `status`
event ComfyUI broadcasts when its queue changes, and every `reconcile_interval` while jobs are live) that the
job events keep current between two snapshots: a job we submitted joins the pending list at once, a job that
starts moves to running, a job that ends leaves. `/api/queue` is answered from it instead of a round trip.

`RecentJobs`: finished jobs, newest last, bounded; a status poll of a job that just ended (the common case: a
client polls until it sees the end) is answered from memory rather than from the database.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Container

from api.jobs.state import Job, JobStatus
from comfyui_client import QueueItem, QueueSnapshot


class QueueView:
    """The last /queue snapshot with the job events applied since; `age` says how old the snapshot is."""

    def __init__(self) -> None:
        self.snapshot: QueueSnapshot | None = None
        self.taken_at = 0.0  # time.monotonic() of the last /queue answer
        self.valid = False  # False until a snapshot is taken, and again after a refresh failed
        # Changes applied since, with when: a /queue answer may have been written before them
        self._changes: list[tuple[float, str, str, float | None]] = []

    def replace(self, snapshot: QueueSnapshot, asked_at: float) -> None:
        """A /queue answer to a request sent at `asked_at` (monotonic); what the events said since is kept."""
        self.snapshot = snapshot
        self.taken_at = time.monotonic()
        self.valid = True
        self._changes = [c for c in self._changes if c[0] >= asked_at]
        for _, kind, prompt_id, number in self._changes:
            self._apply(kind, prompt_id, number)

    def position(self, job: Job) -> int | None:
        """0 while running, 1.. while pending, None once finished (or not in the snapshot, not started)."""
        if job.terminal:
            return None
        pos = self.snapshot.position(job.prompt_id) if self.snapshot is not None else None
        if pos is not None:
            return pos
        return 0 if job.status is JobStatus.RUNNING else None

    def _record(self, kind: str, prompt_id: str, number: float | None = None) -> None:
        self._changes.append((time.monotonic(), kind, prompt_id, number))
        if len(self._changes) > 10_000:  # no refresh for long (ComfyUI down): the oldest matter least
            del self._changes[:5_000]
        self._apply(kind, prompt_id, number)

    def _apply(self, kind: str, prompt_id: str, number: float | None) -> None:
        if kind == "pending":
            self._pending(prompt_id, number)
        elif kind == "running":
            self._running(prompt_id)
        else:
            self._ended(prompt_id)

    def accounts_for(
        self, queue_remaining: int | None, *, in_flight: int = 0, ours: Container[str] = ()
    ) -> bool:
        """Whether a `status` event's queue size is explained by what the view holds and our own jobs' events
        (so no /queue read is needed to stay current). ComfyUI sends `status` before the events it follows
        from: a job we are submitting (`in_flight`) is counted before its POST is answered, and a running job
        of ours (`ours`) leaves the count before its `executing(None)` comes.
        """
        snap = self.snapshot
        if not self.valid or snap is None or queue_remaining is None:
            return False
        held = len(snap.running) + len(snap.pending)
        ending = sum(1 for item in snap.running if item.prompt_id in ours)
        return held - ending <= queue_remaining <= held + in_flight

    def invalidate(self) -> None:
        """ComfyUI did not answer /queue: the view may be wrong, the next read asks ComfyUI itself."""
        self.valid = False

    @property
    def age(self) -> float:
        """Seconds since the snapshot the view is built on was taken (inf: there is none)."""
        return time.monotonic() - self.taken_at if self.snapshot is not None else float("inf")

    def pending(self, prompt_id: str, number: float | None) -> None:
        """A job ComfyUI accepted: pending, ordered by its queue number, until it starts or ends."""
        self._record("pending", prompt_id, number)

    def running(self, prompt_id: str) -> None:
        """The job started: ComfyUI runs one job at a time, so it is the running one now."""
        self._record("running", prompt_id)

    def ended(self, prompt_id: str) -> None:
        self._record("ended", prompt_id)

    def _pending(self, prompt_id: str, number: float | None) -> None:
        snap = self.snapshot
        if snap is None or prompt_id in snap:
            return
        item = QueueItem.model_construct(
            number=int(number) if number is not None else _after(snap),
            prompt_id=prompt_id,
            prompt={},
            extra_data={},
            outputs_to_execute=[],
        )
        pending = sorted([*snap.pending, item], key=lambda i: i.number)
        self.snapshot = QueueSnapshot.model_construct(running=list(snap.running), pending=pending)

    def _running(self, prompt_id: str) -> None:
        snap = self.snapshot
        if snap is None or snap.is_running(prompt_id):
            return
        item = next((i for i in snap.pending if i.prompt_id == prompt_id), None)
        if item is None:
            return  # not in the snapshot: the next refresh brings it with its number
        pending = [i for i in snap.pending if i.prompt_id != prompt_id]
        self.snapshot = QueueSnapshot.model_construct(running=[item], pending=pending)

    def _ended(self, prompt_id: str) -> None:
        snap = self.snapshot
        if snap is None or prompt_id not in snap:
            return
        self.snapshot = QueueSnapshot.model_construct(
            running=[i for i in snap.running if i.prompt_id != prompt_id],
            pending=[i for i in snap.pending if i.prompt_id != prompt_id],
        )


def _after(snap: QueueSnapshot) -> int:
    """A number behind every queued job, for a job whose number ComfyUI has not told us yet."""
    return max((i.number for i in (*snap.running, *snap.pending)), default=0) + 1


class RecentJobs:
    """Finished jobs whose final state is written, least recently read first out; `limit` 0 keeps none."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, job: Job) -> None:
        if self.limit <= 0:
            return
        self._jobs[job.prompt_id] = job
        self._jobs.move_to_end(job.prompt_id)
        while len(self._jobs) > self.limit:
            self._jobs.popitem(last=False)

    def get(self, prompt_id: str) -> Job | None:
        job = self._jobs.get(prompt_id)
        if job is not None:
            self._jobs.move_to_end(prompt_id)
        return job

    def discard(self, prompt_id: str) -> None:
        self._jobs.pop(prompt_id, None)
