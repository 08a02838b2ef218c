"""v2 bodies from gateway jobs: the status mapping (canceling while a cancel awaits ComfyUI), progress, the
job error's code, metrics, follow-up links."""

from __future__ import annotations

from api.jobs.state import Job, JobError, JobStatus
from api.v2.views import error_of, iso, metrics_of, progress_of, queue_position_of, status_of, urls_of

GRAPH = {"1": {"class_type": "EmptyImage", "inputs": {}}, "2": {"class_type": "SaveImage", "inputs": {}}}


def job(status: JobStatus, **changes: object) -> Job:
    j = Job(prompt_id="p1", workflow=GRAPH, status=status, created_at=1000.0)
    for key, value in changes.items():
        setattr(j, key, value)
    return j


def test_statuses_map_onto_the_contract() -> None:
    expected = {
        JobStatus.SUBMITTING: "queued",
        JobStatus.PENDING: "queued",
        JobStatus.RUNNING: "running",
        JobStatus.COMPLETED: "succeeded",
        JobStatus.FAILED: "failed",
        JobStatus.TIMEOUT: "failed",
        JobStatus.CANCELLED: "canceled",
    }
    assert {s: status_of(job(s)) for s in JobStatus} == expected
    asked = job(JobStatus.RUNNING, end_requested=JobStatus.CANCELLED)
    assert status_of(asked) == "canceling"
    assert status_of(asked, JobStatus.CANCELLED) == "canceled"  # the status an event carried


def test_progress_is_a_complete_snapshot() -> None:
    assert progress_of(job(JobStatus.PENDING)) is None
    running = job(
        JobStatus.RUNNING,
        progress=50.0,
        will_run={"1", "2"},
        node_fraction={"1": 1.0, "2": 0.0},
        current_node={"id": "2", "class_type": "SaveImage"},
    )
    assert progress_of(running) == {
        "value": 0.5,
        "nodes_done": 1,
        "nodes_total": 2,
        "current_node": "2",
        "current_node_class": "SaveImage",
        "step": None,
        "steps": None,
        "message": "SaveImage (1/2 nodes)",
    }
    done = progress_of(job(JobStatus.COMPLETED, progress=100.0))
    assert done is not None and done["value"] == 1.0 and done["nodes_done"] == done["nodes_total"] == 2


def test_job_errors_carry_a_code() -> None:
    failed = job(
        JobStatus.FAILED, error=JobError("boom", type="RuntimeError", node="2", node_type="SaveImage")
    )
    assert error_of(failed) == {
        "code": "node_execution_error",
        "message": "RuntimeError: boom",
        "node_id": "2",
        "class_type": "SaveImage",
        "traceback": None,
    }
    lost = job(JobStatus.FAILED, error=JobError("ComfyUI forgot it", type="not_submitted"))
    assert error_of(lost)["code"] == "not_submitted"
    assert error_of(job(JobStatus.TIMEOUT))["code"] == "timeout"
    assert error_of(job(JobStatus.CANCELLED, error=JobError("cancelled", type="cancelled"))) is None


def test_metrics_links_and_times() -> None:
    finished = job(JobStatus.COMPLETED, started_at=1002.0, finished_at=1005.5)
    assert metrics_of(finished) == {"queue_ms": 2000, "execution_ms": 3500, "eta_ms": None}
    assert urls_of(finished) == {
        "self": "/api/v2/jobs/p1",
        "events": "/api/v2/jobs/p1/events",
        "cancel": "/api/v2/jobs/p1/cancel",
    }
    assert iso(0.0) == "1970-01-01T00:00:00Z" and iso(None) is None


def test_only_a_queued_job_has_a_queue_position() -> None:
    assert queue_position_of(job(JobStatus.PENDING), 3) == 3
    assert queue_position_of(job(JobStatus.RUNNING), 0) is None  # the gateway's 0 means running
    assert queue_position_of(job(JobStatus.RUNNING), 2, JobStatus.PENDING) == 2  # as an event carried it
