"""A job and its state machine: ComfyUI events in, job fields and public job events out.

Pure and synchronous (no I/O) so every transition is unit-tested. Statuses:
submitting -> pending -> running -> completed | failed | cancelled | timeout; pending -> cancelled | failed.
`submitting`: the row is written and POST /prompt sent, but ComfyUI has not confirmed it yet (the gateway
settles it by asking ComfyUI's /queue and /history, never by guessing).
A terminal status is sticky: late events (an interrupt after a timeout, a replay after a reconnect) never
move a finished job again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from comfyui_client import OutputRef, collect_outputs
from node_catalog.topology import feeding_nodes


class JobStatus(StrEnum):
    SUBMITTING = "submitting"
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.TIMEOUT})


def outputs_from_ui(node_id: str, ui: dict[str, Any]) -> list[OutputRef]:
    """Every file in one node's `ui` dict (all keys, not only `images`), classified like the job's final
    outputs, which come from the history entry's `files` (the same `collect_outputs`)."""
    if not isinstance(ui, dict):
        return []
    return [OutputRef.from_file(f) for f in collect_outputs({node_id: ui}) if f.is_file]


@dataclass
class JobError:
    message: str
    type: str = "execution_error"
    node: str | None = None
    node_type: str | None = None
    details: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "node_type": self.node_type,
            "type": self.type,
            "message": self.message,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobError:
        return cls(
            message=str(d.get("message", "")),
            type=str(d.get("type", "execution_error")),
            node=d.get("node"),
            node_type=d.get("node_type"),
            details=d.get("details"),
        )

    @classmethod
    def from_execution_error(cls, data: Mapping[str, Any]) -> JobError:
        """From ComfyUI's `execution_error` data (the event's, or a history entry's)."""
        node = data.get("node_id")
        return cls(
            message=str(data.get("exception_message") or "execution failed").strip(),
            type=str(data.get("exception_type") or "execution_error"),
            node=str(node) if node is not None else None,
            node_type=data.get("node_type"),
        )

    @classmethod
    def from_interruption(cls, data: Mapping[str, Any]) -> JobError:
        """From ComfyUI's `execution_interrupted` data: an interrupt not asked for through the gateway."""
        node = data.get("node_id")
        return cls(
            message="interrupted on ComfyUI",
            type="interrupted",
            node=str(node) if node is not None else None,
            node_type=data.get("node_type"),
        )


class CompactJson:
    """A JSON object attribute held as compact UTF-8 JSON bytes; each read decodes a fresh dict.

    A tracked job's workflow is read rarely (the node names of events, a resubmission, a database write) but
    held for as long as the job waits: as bytes it costs about an eighth of the parsed dict (issue 13). What
    a read gives is what the database would give back: JSON values (tuples are lists, keys are strings).
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._key = f"_{name}_json"

    def __get__(self, obj: object, objtype: type | None = None) -> dict[str, Any]:
        if obj is None:
            raise AttributeError(self._key)  # for dataclasses: the field has no default
        value: dict[str, Any] = json.loads(obj.__dict__[self._key])
        return value

    def __set__(self, obj: object, value: Mapping[str, Any]) -> None:
        obj.__dict__[self._key] = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Job:
    """One submission: what was asked, what ran, and how it ended."""

    prompt_id: str
    workflow: CompactJson = CompactJson()  # a dict in, a fresh dict out (stored as JSON bytes)
    status: JobStatus = JobStatus.PENDING
    source: str = "workflow"
    request: dict[str, Any] | None = None
    extra_data: dict[str, Any] | None = None
    client_id: str | None = None
    number: float | None = None
    progress: float = 0.0
    current_node: dict[str, Any] | None = None
    outputs: list[OutputRef] = field(default_factory=list)
    error: JobError | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    # Idempotency-Key (scoped by caller) and a hash of the request body it was first used with.
    idempotency_key: str | None = None
    request_hash: str | None = None
    # An end we asked ComfyUI for (a cancel or a timeout) and not yet confirmed by it: the status the job
    # takes once ComfyUI reports the interruption, and why. Persisted, so a restart keeps asking.
    end_requested: JobStatus | None = None
    end_reason: JobError | None = None
    owner: str | None = None  # the API key name that created it (None: the gateway ran open)
    backend: str | None = None  # the fleet backend (api.fleet) that runs it; None: from before the fleet
    attempts: int = 0  # times it was resubmitted after its backend lost it while running (api.fleet)
    # Progress bookkeeping (not persisted): which nodes will run and how far each is.
    will_run: set[str] = field(default_factory=set)
    node_fraction: dict[str, float] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @property
    def awaiting_end(self) -> bool:
        """A cancel or timeout was asked for and ComfyUI has not confirmed the job's end yet."""
        return self.end_requested is not None and not self.terminal

    def estimated_time_remaining(self, now: float | None = None) -> float | None:
        """Seconds left at the observed rate; None before any progress or once finished."""
        if self.status is not JobStatus.RUNNING or self.started_at is None or self.progress <= 0:
            return None
        elapsed = (now or time.time()) - self.started_at
        if elapsed <= 0 or self.progress >= 100:
            return None
        return round(elapsed * (100.0 - self.progress) / self.progress, 1)


def nodes_that_run(workflow: dict[str, Any], output_classes: set[str] | None) -> set[str]:
    """Nodes feeding an output node (ComfyUI runs only those); every node when outputs are unknown."""
    if not output_classes:
        return set(workflow)
    outputs = [
        nid
        for nid, node in workflow.items()
        if isinstance(node, dict) and node.get("class_type") in output_classes
    ]
    if not outputs:
        return set(workflow)
    return feeding_nodes(workflow, outputs)


class JobMachine:
    """Applies ComfyUI events (kind + data dict) to a job and returns public job events to publish."""

    def apply(
        self, job: Job, kind: str, data: dict[str, Any], now: float | None = None
    ) -> list[dict[str, Any]]:
        if job.terminal:
            return []
        now = now or time.time()
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            return []
        out: list[dict[str, Any]] = handler(job, data, now)
        return out

    # -- transitions -------------------------------------------------------------------------------------
    def start(self, job: Job, now: float, started_at: float | None = None) -> list[dict[str, Any]]:
        if job.status not in (JobStatus.PENDING, JobStatus.SUBMITTING):
            return []
        job.status = JobStatus.RUNNING
        job.started_at = started_at or now
        return [event(job, "started")]

    def finish(
        self,
        job: Job,
        status: JobStatus,
        now: float,
        *,
        error: JobError | None = None,
        outputs: list[OutputRef] | None = None,
        finished_at: float | None = None,
    ) -> list[dict[str, Any]]:
        if job.terminal:
            return []
        events: list[dict[str, Any]] = []
        if outputs is not None:
            known = {(o.node_id, o.subfolder, o.filename) for o in job.outputs}
            for ref in outputs:
                if (ref.node_id, ref.subfolder, ref.filename) not in known:
                    job.outputs.append(ref)
                    events.append(event(job, "output", output=ref.to_dict()))
        job.status = status
        job.error = error
        job.current_node = None
        job.finished_at = finished_at or now
        if job.started_at is None and status is not JobStatus.CANCELLED:
            job.started_at = job.finished_at
        if status is JobStatus.COMPLETED:
            job.progress = 100.0
        events.append(event(job, "finished"))
        return events

    def _on_execution_start(self, job: Job, data: dict[str, Any], now: float) -> list[dict[str, Any]]:
        ts = data.get("timestamp")
        return self.start(job, now, ts / 1000.0 if isinstance(ts, int | float) else None)

    def _on_execution_cached(self, job: Job, data: dict[str, Any], now: float) -> list[dict[str, Any]]:
        events = self.start(job, now)
        for nid in data.get("nodes") or []:
            job.will_run.discard(str(nid))
            job.node_fraction.pop(str(nid), None)
        return events + self._progress(job)

    def _on_executing(self, job: Job, data: dict[str, Any], now: float) -> list[dict[str, Any]]:
        events = self.start(job, now)
        node = data.get("node")
        if node is None:
            return events  # the finished signal: the tracker completes the job from /history
        node = str(node)
        previous = job.current_node.get("id") if job.current_node else None
        if previous is not None and previous != node:
            job.node_fraction[previous] = 1.0  # the previous node is done once the next one starts
        job.will_run.add(node)
        job.node_fraction.setdefault(node, 0.0)
        spec = job.workflow.get(node)
        class_type = spec.get("class_type") if isinstance(spec, dict) else None
        job.current_node = {"id": node, "class_type": class_type}
        events.append(event(job, "node", node=job.current_node))
        return events + self._progress(job)

    def _on_progress(self, job: Job, data: dict[str, Any], now: float) -> list[dict[str, Any]]:
        events = self.start(job, now)
        node = data.get("node")
        value, maximum = data.get("value"), data.get("max")
        if (
            node is not None
            and isinstance(value, int | float)
            and isinstance(maximum, int | float)
            and maximum > 0
        ):
            nid = str(node)
            job.will_run.add(nid)
            job.node_fraction[nid] = max(job.node_fraction.get(nid, 0.0), min(1.0, value / maximum))
        return events + self._progress(job)

    def _on_progress_state(self, job: Job, data: dict[str, Any], now: float) -> list[dict[str, Any]]:
        events = self.start(job, now)
        nodes = data.get("nodes") or {}
        for nid, st in nodes.items() if isinstance(nodes, dict) else ():
            if not isinstance(st, dict):
                continue
            nid = str(nid)
            if st.get("state") == "finished":
                frac = 1.0
            else:
                value, maximum = st.get("value"), st.get("max")
                frac = (
                    min(1.0, value / maximum)
                    if isinstance(value, int | float) and isinstance(maximum, int | float) and maximum > 0
                    else 0.0
                )
            job.will_run.add(nid)
            job.node_fraction[nid] = max(job.node_fraction.get(nid, 0.0), frac)
        return events + self._progress(job)

    def _on_executed(self, job: Job, data: dict[str, Any], now: float) -> list[dict[str, Any]]:
        events = self.start(job, now)
        node = data.get("node")
        if node is not None:
            job.node_fraction[str(node)] = 1.0
            output = data.get("output")
            known = {(o.node_id, o.subfolder, o.filename) for o in job.outputs}
            for ref in outputs_from_ui(str(node), output if isinstance(output, dict) else {}):
                if (ref.node_id, ref.subfolder, ref.filename) not in known:
                    job.outputs.append(ref)
                    events.append(event(job, "output", output=ref.to_dict()))
        return events + self._progress(job)

    def _on_execution_error(self, job: Job, data: dict[str, Any], now: float) -> list[dict[str, Any]]:
        err = JobError.from_execution_error(data)
        ts = data.get("timestamp")
        return self.finish(
            job,
            JobStatus.FAILED,
            now,
            error=err,
            finished_at=ts / 1000.0 if isinstance(ts, int | float) else None,
        )

    def _on_execution_interrupted(self, job: Job, data: dict[str, Any], now: float) -> list[dict[str, Any]]:
        # An interrupt nobody asked for through the gateway (someone used ComfyUI directly).
        err = JobError.from_interruption(data)
        return self.finish(job, JobStatus.CANCELLED, now, error=err)

    def _progress(self, job: Job) -> list[dict[str, Any]]:
        total = job.will_run or set(job.workflow)
        if not total:
            return []
        done = sum(job.node_fraction.get(nid, 0.0) for nid in total)
        # 100 is reserved for completion: history is written after the last node reports done.
        value = min(99.9, round(100.0 * done / len(total), 1))
        if value <= job.progress:
            return []
        job.progress = value
        return [event(job, "progress")]


def event(job: Job, kind: str, **extra: Any) -> dict[str, Any]:
    """A public job event: what SSE and WebSocket subscribers receive."""
    return {
        "event": kind,
        "prompt_id": job.prompt_id,
        "status": job.status.value,
        "progress": job.progress,
        "current_node": job.current_node,
        **extra,
    }
