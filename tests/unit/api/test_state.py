"""The job state machine replayed over real WebSocket captures (samples/*.result.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.jobs.state import Job, JobError, JobMachine, JobStatus, nodes_that_run, outputs_from_ui
from comfyui_client import classify

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "comfyui" / "samples"


def replay(name: str) -> tuple[Job, list[dict[str, Any]]]:
    capture = json.loads((SAMPLES / f"{name}.result.json").read_text())
    graph = json.loads((SAMPLES / f"{name}.prompt.json").read_text())
    job = Job(prompt_id=capture["prompt_id"], workflow=graph)
    job.will_run = nodes_that_run(graph, {"SaveImage", "SaveVideo", "SaveAnimatedWEBP", "SaveWEBM"})
    machine = JobMachine()
    events: list[dict[str, Any]] = []
    progress: list[float] = []
    for msg in capture["ws"]:
        if "type" not in msg or msg["type"] == "status":
            continue
        data = msg["data"]
        if data.get("prompt_id") not in (None, job.prompt_id):
            continue
        events += machine.apply(job, msg["type"], data)
        progress.append(job.progress)
    assert progress == sorted(progress), "progress must never go down"
    return job, events


def test_video_run_goes_pending_running_with_a_video_output() -> None:
    job, events = replay("03_createvideo_savevideo_mp4")
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and "node" in kinds and "output" in kinds
    assert job.status is JobStatus.RUNNING  # completion comes from /history, after executing(None)
    assert [o.kind for o in job.outputs] == ["video"] and job.outputs[0].filename.endswith(".mp4")
    assert 90 < job.progress < 100
    assert job.started_at is not None


def test_runtime_error_fails_with_node_and_message() -> None:
    job, events = replay("06_runtime_error_v3_combo")
    assert job.status is JobStatus.FAILED and events[-1]["event"] == "finished"
    assert job.error is not None and job.error.node == "2" and job.error.node_type == "SaveVideo"
    assert "mkv" in job.error.message and job.error.type == "ValueError"


def test_slow_job_progress_rises_through_many_steps() -> None:
    job, events = replay("11_pixel_space_vae_tiled")
    values = [e["progress"] for e in events if e["event"] == "progress"]
    assert len(values) > 5 and values == sorted(values)
    assert job.current_node is not None


def test_cached_rerun_counts_only_nodes_that_run() -> None:
    job, _ = replay("07_cached_rerun_of_01")
    assert job.status is JobStatus.RUNNING
    assert job.progress >= 0


def test_terminal_is_sticky() -> None:
    job = Job(prompt_id="p", workflow={"1": {"class_type": "SaveImage", "inputs": {}}})
    machine = JobMachine()
    machine.finish(job, JobStatus.TIMEOUT, 10.0, error=JobError(message="too long", type="timeout"))
    assert machine.apply(job, "execution_interrupted", {"prompt_id": "p", "node_id": "1"}) == []
    assert machine.finish(job, JobStatus.COMPLETED, 11.0) == []
    assert job.status is JobStatus.TIMEOUT and job.error is not None and job.error.type == "timeout"


def test_completion_sets_100_and_estimates_stop() -> None:
    job = Job(prompt_id="p", workflow={"1": {"class_type": "X", "inputs": {}}})
    machine = JobMachine()
    machine.apply(job, "execution_start", {"timestamp": 1_000_000}, now=1000.0)
    machine.apply(job, "progress", {"node": "1", "value": 1, "max": 4}, now=1001.0)
    assert job.progress == 25.0
    eta = job.estimated_time_remaining(now=1004.0)
    assert eta == pytest.approx(12.0)
    machine.finish(job, JobStatus.COMPLETED, 1010.0)
    assert job.progress == 100.0 and job.estimated_time_remaining() is None


@pytest.mark.parametrize(
    ("filename", "key", "animated", "kind"),
    [
        ("a.mp4", "images", True, "video"),
        ("a.png", "images", False, "image"),
        ("a.webp", "images", True, "video"),
        ("a.flac", "audio", False, "audio"),
        ("a.gif", "gifs", False, "video"),
        ("a.latent", "latents", False, "other"),
    ],
)
def test_classify(filename: str, key: str, animated: bool, kind: str) -> None:
    assert classify(filename, key=key, animated=animated) == kind


def test_outputs_from_ui_reads_every_key() -> None:
    ui = {
        "images": [{"filename": "v.mp4", "subfolder": "video", "type": "output"}],
        "animated": [True],
        "audio": [{"filename": "a.flac", "subfolder": "", "type": "output"}],
        "text": ["hello"],
    }
    refs = outputs_from_ui("9", ui)
    assert {(r.filename, r.kind) for r in refs} == {("v.mp4", "video"), ("a.flac", "audio")}


def test_nodes_that_run_follows_links_from_outputs() -> None:
    graph = {
        "1": {"class_type": "A", "inputs": {}},
        "2": {"class_type": "Save", "inputs": {"x": ["1", 0]}},
        "3": {"class_type": "Orphan", "inputs": {}},
    }
    assert nodes_that_run(graph, {"Save"}) == {"1", "2"}
    assert nodes_that_run(graph, None) == {"1", "2", "3"}


NODE_IDS = ["1", "2", "3", "4"]
EVENTS = st.one_of(
    st.builds(lambda n: ("executing", {"node": n}), st.sampled_from([*NODE_IDS, None])),
    st.builds(
        lambda n, v, m: ("progress", {"node": n, "value": v, "max": m}),
        st.sampled_from(NODE_IDS),
        st.integers(0, 50),
        st.integers(0, 50),
    ),
    st.builds(
        lambda n, v, state: ("progress_state", {"nodes": {n: {"value": v, "max": 10, "state": state}}}),
        st.sampled_from(NODE_IDS),
        st.integers(0, 10),
        st.sampled_from(["running", "finished"]),
    ),
    st.builds(
        lambda ns: ("execution_cached", {"nodes": ns}), st.lists(st.sampled_from(NODE_IDS), max_size=2)
    ),
    st.builds(
        lambda n: ("executed", {"node": n, "output": {"images": [{"filename": f"{n}.png"}]}}),
        st.sampled_from(NODE_IDS),
    ),
    st.just(("execution_start", {"timestamp": 1000})),
    st.just(("execution_error", {"node_id": "2", "exception_message": "x", "exception_type": "E"})),
    st.just(("execution_interrupted", {"node_id": "3"})),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(EVENTS, max_size=40))
def test_any_event_order_keeps_progress_monotonic_bounded_and_terminal_sticky(
    events: list[tuple[str, dict[str, Any]]],
) -> None:
    graph = {nid: {"class_type": "X", "inputs": {}} for nid in NODE_IDS}
    job = Job(prompt_id="p", workflow=graph)
    job.will_run = set(NODE_IDS)
    machine = JobMachine()
    last = 0.0
    ended_as: JobStatus | None = None
    for kind, data in events:
        published = machine.apply(job, kind, {"prompt_id": "p", **data})
        assert 0.0 <= job.progress <= 99.9 and job.progress >= last
        assert all(e["prompt_id"] == "p" for e in published)
        last = job.progress
        if ended_as is not None:
            assert job.status is ended_as and published == []
        elif job.terminal:
            ended_as = job.status
            assert published[-1]["event"] == "finished"
    assert len({(o.node_id, o.filename) for o in job.outputs}) == len(job.outputs)
