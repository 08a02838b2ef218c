"""Event parsing: every frame of every real capture becomes its typed model, in order; odd frames never
crash."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from _comfy_fakes import SAMPLES, capture_frames, load
from hypothesis import given, settings
from hypothesis import strategies as st

from comfyui_client import (
    BinaryEvent,
    Event,
    ExecutedEvent,
    ExecutingEvent,
    ExecutionCachedEvent,
    ExecutionErrorEvent,
    ExecutionInterruptedEvent,
    ExecutionStartEvent,
    ExecutionSuccessEvent,
    PreviewEvent,
    ProgressEvent,
    ProgressStateEvent,
    ProgressTextEvent,
    StatusEvent,
    UnknownEvent,
    parse_event,
)

MODELS: dict[str, type[Event]] = {
    "status": StatusEvent,
    "execution_start": ExecutionStartEvent,
    "execution_cached": ExecutionCachedEvent,
    "executing": ExecutingEvent,
    "progress": ProgressEvent,
    "progress_state": ProgressStateEvent,
    "executed": ExecutedEvent,
    "execution_success": ExecutionSuccessEvent,
    "execution_error": ExecutionErrorEvent,
    "execution_interrupted": ExecutionInterruptedEvent,
}

CAPTURES = sorted(p.name for p in SAMPLES.glob("*.result.json"))


@pytest.mark.parametrize("capture", CAPTURES)
def test_every_captured_frame_parses_to_its_model_in_order(capture: str) -> None:
    frames = capture_frames(capture)
    assert frames, capture
    events = [parse_event(f) for f in frames]
    raw = [json.loads(f) for f in frames]
    assert [e.type for e in events] == [m["type"] for m in raw]
    for event, message in zip(events, raw, strict=True):
        assert type(event) is MODELS[message["type"]], message
        assert event.prompt_id == message["data"].get("prompt_id")
        assert not event.synthetic


def test_successful_run_ends_with_terminal_then_finished_signal() -> None:
    events = [parse_event(f) for f in capture_frames("01_emptyimage_saveimage.result.json")]
    pid = load("01_emptyimage_saveimage.result.json")["prompt_id"]
    assert isinstance(events[0], StatusEvent) and events[0].sid is not None
    assert events[0].queue_remaining == 0
    executed = [e for e in events if isinstance(e, ExecutedEvent)]
    assert len(executed) == 1 and executed[0].node == "2"
    assert executed[0].files[0].filename == "red_00001_.png"
    assert isinstance(events[-3], ExecutionSuccessEvent) and events[-3].is_terminal
    last = events[-1]
    assert isinstance(last, ExecutingEvent) and last.is_finished and last.prompt_id == pid
    nodes = [e.node for e in events if isinstance(e, ExecutingEvent)]
    assert nodes == ["1", "2", None]
    states = [e for e in events if isinstance(e, ProgressStateEvent)]
    assert states[-1].nodes["2"].state == "finished"


def test_error_and_interrupt_frames_carry_their_details() -> None:
    events = [parse_event(f) for f in capture_frames("06_runtime_error_v3_combo.result.json")]
    (error,) = [e for e in events if isinstance(e, ExecutionErrorEvent)]
    assert error.node_id == "2" and error.node_type == "SaveVideo"
    assert error.exception_type == "ValueError" and "mkv" in error.exception_message
    assert error.traceback and error.is_terminal
    frame = json.dumps(
        {
            "type": "execution_interrupted",
            "data": {
                "prompt_id": "p",
                "node_id": "4",
                "node_type": "VAEDecodeTiled",
                "executed": ["1"],
                "timestamp": 5,
            },
        }
    )
    event = parse_event(frame)
    assert isinstance(event, ExecutionInterruptedEvent)
    assert (event.node_id, event.node_type, event.executed, event.is_terminal) == (
        "4",
        "VAEDecodeTiled",
        ["1"],
        True,
    )


def test_progress_frames_from_the_slow_capture() -> None:
    events = [parse_event(f) for f in capture_frames("11_pixel_space_vae_tiled.result.json")]
    progress = [e for e in events if isinstance(e, ProgressEvent)]
    assert len(progress) > 100
    assert all(0 <= p.fraction <= 1 and p.node == "4" for p in progress)


def test_unknown_type_and_ill_fitting_data_are_kept_not_fatal() -> None:
    unknown = parse_event(json.dumps({"type": "crystools.monitor", "data": {"cpu": 3, "prompt_id": "x"}}))
    assert isinstance(unknown, UnknownEvent) and unknown.type == "crystools.monitor"
    assert unknown.data == {"cpu": 3, "prompt_id": "x"} and unknown.prompt_id == "x"
    misfit = parse_event(json.dumps({"type": "executing", "data": {"node": ["not", "a", "str"]}}))
    assert isinstance(misfit, UnknownEvent) and misfit.type == "executing"
    no_data = parse_event(json.dumps({"type": "status"}))
    assert isinstance(no_data, UnknownEvent)
    for junk in ("not json", "[1, 2]", json.dumps({"data": {}}), json.dumps({"type": 5})):
        assert isinstance(parse_event(junk), UnknownEvent)


def test_extra_fields_from_newer_comfyui_are_kept() -> None:
    event = parse_event(
        json.dumps({"type": "execution_start", "data": {"prompt_id": "p", "timestamp": 1, "new": 2}})
    )
    assert isinstance(event, ExecutionStartEvent)
    assert event.model_extra == {"new": 2}


def test_binary_preview_frames() -> None:
    jpeg = b"\xff\xd8\xff\xe0fakejpeg"
    event = parse_event(struct.pack(">II", 1, 1) + jpeg)
    assert isinstance(event, PreviewEvent)
    assert (event.event_type, event.mime, event.image) == (1, "image/jpeg", jpeg)
    png = parse_event(struct.pack(">II", 1, 2) + b"\x89PNG")
    assert isinstance(png, PreviewEvent) and png.mime == "image/png"

    metadata = json.dumps({"node_id": "7", "prompt_id": "p1", "image_type": "image/png"}).encode()
    event = parse_event(struct.pack(">II", 4, len(metadata)) + metadata + b"\x89PNGdata")
    assert isinstance(event, PreviewEvent)
    assert (event.node, event.prompt_id, event.mime, event.image) == ("7", "p1", "image/png", b"\x89PNGdata")


def test_binary_progress_text_and_unknown_or_truncated_frames() -> None:
    event = parse_event(struct.pack(">II", 3, 2) + b"12" + b"ok: 50 %")
    assert isinstance(event, ProgressTextEvent) and (event.node, event.text) == ("12", "ok: 50 %")
    for frame in (b"", b"\x00\x00", struct.pack(">I", 99) + b"xyz", struct.pack(">II", 4, 1000) + b"{}"):
        assert isinstance(parse_event(frame), BinaryEvent)
    bad_meta = struct.pack(">II", 4, 3) + b"{x}" + b"img"
    assert isinstance(parse_event(bad_meta), BinaryEvent)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_parse_never_raises_on_binary(frame: bytes) -> None:
    assert isinstance(parse_event(frame), Event)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(MODELS)),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=8,
    ),
)
def test_parse_never_raises_on_arbitrary_data(type_: str, data: object) -> None:
    assert isinstance(parse_event(json.dumps({"type": type_, "data": data})), Event)


def test_captures_exist() -> None:
    assert Path(SAMPLES / "01_emptyimage_saveimage.result.json").exists()
    assert len(CAPTURES) >= 10
