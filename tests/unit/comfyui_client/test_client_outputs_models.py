"""Output classification and the typed views of /history and /queue, from the real captures."""

from __future__ import annotations

from typing import Any

import pytest
from _comfy_fakes import load, sample_history

from comfyui_client import (
    ExecutionFailed,
    ExecutionInterrupted,
    HistoryEntry,
    QueueSnapshot,
    classify,
    collect_outputs,
)


@pytest.mark.parametrize(
    ("capture", "expected"),
    [
        ("01_emptyimage_saveimage.result.json", [("2", "red_00001_.png", "probe", "image", False)]),
        ("03_createvideo_savevideo_mp4.result.json", [("7", "probe_00001_.mp4", "video", "video", True)]),
        ("04_save_animated_webp.result.json", [("4", "anim_00001_.webp", "probe", "video", True)]),
        ("05_save_webm_vp9.result.json", [("2", "webm_00001_.webm", "probe", "video", True)]),
    ],
)
def test_outputs_of_captured_runs(capture: str, expected: list[tuple[str, str, str, str, bool]]) -> None:
    pid, raw = sample_history(capture)
    files = collect_outputs(raw["outputs"])
    assert [(f.node_id, f.filename, f.subfolder, f.kind, f.animated) for f in files] == expected
    assert all(f.type == "output" and f.key == "images" and f.is_file for f in files)
    entry = HistoryEntry.from_comfy(pid, raw)
    assert entry.files == files


def test_preview_and_save_images_from_sample_02() -> None:
    _, raw = sample_history("02_emptyimage_scale_saveimage.result.json")
    files = collect_outputs(raw["outputs"])
    assert sorted((f.node_id, f.type, f.kind) for f in files) == [
        ("4", "output", "image"),
        ("4", "output", "image"),
        ("5", "temp", "image"),
        ("5", "temp", "image"),
    ]


def test_every_key_is_collected_vhs_audio_text_and_unknown() -> None:
    outputs: dict[str, Any] = {
        "10": {
            "gifs": [
                {
                    "filename": "AnimateDiff_00001.mp4",
                    "subfolder": "",
                    "type": "output",
                    "format": "video/h264-mp4",
                },
                {
                    "filename": "AnimateDiff_00001.gif",
                    "subfolder": "",
                    "type": "output",
                    "format": "image/gif",
                },
            ]
        },
        "11": {"audio": [{"filename": "speech.flac", "subfolder": "a", "type": "output"}]},
        "12": {"text": ["a caption", "second"]},
        "13": {"3d": [{"filename": "mesh.glb", "subfolder": "", "type": "output"}]},
        "14": {"images": [{"filename": "x.png"}, {"filename": "y.png"}], "animated": [False, True]},
        "15": {"images": [{"no": "filename"}, "junk", 3], "animated": "not-a-list", "misc": "scalar"},
        "16": "not a dict",
        "17": {"text": [{"filename": "notes.txt", "subfolder": "", "type": "output"}]},
    }
    files = collect_outputs(outputs)
    kinds = [(f.node_id, f.kind, f.animated, f.key) for f in files]
    assert kinds == [
        ("10", "video", True, "gifs"),
        ("10", "video", True, "gifs"),
        ("11", "audio", False, "audio"),
        ("12", "text", False, "text"),
        ("12", "text", False, "text"),
        ("13", "other", False, "3d"),
        ("14", "image", False, "images"),
        ("14", "video", True, "images"),
        ("17", "text", False, "text"),
    ]
    assert files[0].format == "video/h264-mp4"
    assert [f.text for f in files if f.node_id == "12"] == ["a caption", "second"]
    assert not files[3].is_file
    assert files[2].subfolder == "a" and files[2].extension == ".flac"


@pytest.mark.parametrize(
    ("filename", "kwargs", "kind"),
    [
        ("a.MP4", {}, "video"),
        ("a.webp", {}, "image"),
        ("a.webp", {"animated": True}, "video"),
        ("a.webm", {"key": "audio"}, "audio"),
        ("a.wav", {}, "audio"),
        ("a.json", {}, "text"),
        ("a.latent", {}, "other"),
        ("noext", {"fmt": "video/h265-mp4"}, "video"),
    ],
)
def test_classify(filename: str, kwargs: dict[str, Any], kind: str) -> None:
    assert classify(filename, **kwargs) == kind


def test_history_entry_success() -> None:
    pid, raw = sample_history("01_emptyimage_saveimage.result.json")
    entry = HistoryEntry.from_comfy(pid, raw)
    assert (entry.outcome, entry.status_str, entry.completed, entry.error) == (
        "success",
        "success",
        True,
        None,
    )
    assert (
        entry.started_at == 1795463911704 and entry.finished_at == 1795463911717 and entry.duration_ms == 13
    )
    assert entry.number == 0 and entry.prompt["2"]["class_type"] == "SaveImage"
    assert entry.extra_data["client_id"] == load("01_emptyimage_saveimage.result.json")["client_id"]
    assert entry.raise_for_outcome() is entry


def test_history_entry_error_raises_execution_failed() -> None:
    pid, raw = sample_history("06_runtime_error_v3_combo.result.json")
    entry = HistoryEntry.from_comfy(pid, raw)
    assert entry.outcome == "error" and entry.error is not None and entry.interruption is None
    with pytest.raises(ExecutionFailed) as info:
        entry.raise_for_outcome()
    exc = info.value
    assert (exc.prompt_id, exc.node_id, exc.node_type, exc.exception_type) == (
        pid,
        "2",
        "SaveVideo",
        "ValueError",
    )
    assert "mkv" in (exc.exception_message or "") and exc.traceback and exc.entry is entry
    assert "SaveVideo" in str(exc)


def test_history_entry_interrupted_is_told_apart_from_error() -> None:
    probe = load("cancel_probe.json")
    ((pid, raw),) = probe["history"]["S1"].items()
    assert raw["status"]["status_str"] == "error" and raw["status"]["completed"] is False
    entry = HistoryEntry.from_comfy(pid, raw)
    assert entry.outcome == "interrupted" and entry.error is None
    assert entry.interruption is not None and entry.interruption["node_id"] == "4"
    with pytest.raises(ExecutionInterrupted) as info:
        entry.raise_for_outcome()
    assert (info.value.node_id, info.value.node_type) == ("4", "ImageBlur")


def test_history_entry_tolerates_missing_and_odd_fields() -> None:
    entry = HistoryEntry.from_comfy("p", {})
    assert (entry.outcome, entry.files, entry.messages, entry.started_at) == ("error", [], [], None)
    old_style = HistoryEntry.from_comfy(
        "p", {"status": {"completed": True, "messages": "junk"}, "outputs": []}
    )
    assert old_style.outcome == "success"


def test_queue_snapshot_sorts_pending_by_number() -> None:
    raw = {
        "queue_running": [[7, "run", {}, {"client_id": "c"}, ["9"]]],
        "queue_pending": [[12, "c", {}, {}, []], [-3, "front", {}, {}, []], [9, "a", {}, {}, []], ["bad"]],
    }
    snap = QueueSnapshot.from_comfy(raw)
    assert [i.prompt_id for i in snap.pending] == ["front", "a", "c"]
    assert snap.running[0].client_id == "c" and snap.running[0].outputs_to_execute == ["9"]
    assert "run" in snap and "a" in snap and "zzz" not in snap
    assert (snap.position("run"), snap.position("front"), snap.position("c"), snap.position("x")) == (
        0,
        1,
        3,
        None,
    )
    empty = QueueSnapshot.from_comfy(load("../endpoints/queue.json"))
    assert empty.running == [] and empty.pending == []
