"""ComfyClient against the real session ComfyUI: runs, events in order, outputs through /view (with Range),
interrupt, delete pending, real 400 answers, and the other routes. Graphs get random colours and prefixes so
ComfyUI's cache (shared with other tests of the session) never skips their nodes."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import random
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from comfyui_client import (
    BadRequest,
    ComfyClient,
    Event,
    EventStream,
    ExecutedEvent,
    ExecutingEvent,
    ExecutionInterrupted,
    ExecutionInterruptedEvent,
    JobLost,
    NotFound,
    ProgressEvent,
    PromptRejected,
    parse_event,
)

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "comfyui" / "samples"
WAIT = 120.0  # upper bound for a job on a loaded CI machine; tests never rely on it being tight


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def unique(graph: dict[str, Any]) -> dict[str, Any]:
    """The graph with random EmptyImage colours and a fresh output prefix: never served from cache."""
    graph = copy.deepcopy(graph)
    tag = uuid.uuid4().hex[:8]
    for node in graph.values():
        inputs = node["inputs"]
        if node["class_type"] == "EmptyImage":
            inputs["color"] = random.randrange(0, 0xFFFFFF)
        if "filename_prefix" in inputs:
            inputs["filename_prefix"] = f"client_it/{tag}"
    return graph


def captured_sequence(capture: str) -> list[tuple[str, str | None]]:
    """(type, node) of the capture's events that belong to its job."""
    data = sample(capture)
    events = [
        parse_event(json.dumps({"type": m["type"], "data": m["data"]})) for m in data["ws"] if "type" in m
    ]
    return [(e.type, getattr(e, "node", None)) for e in events if e.prompt_id == data["prompt_id"]]


@pytest.fixture
async def client(comfyui: Any) -> AsyncIterator[ComfyClient]:
    async with ComfyClient(comfyui.url, timeout=30.0) as c:
        yield c


async def events_until(stream: EventStream, stop: Callable[[Event], bool]) -> list[Event]:
    events: list[Event] = []
    async with asyncio.timeout(WAIT):
        async for event in stream:
            events.append(event)
            if stop(event):
                return events
    raise AssertionError("stream ended")


def finished(pid: str) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, ExecutingEvent) and e.is_finished and e.prompt_id == pid


@pytest.mark.parametrize(
    ("name", "kind", "ext"),
    [("01_emptyimage_saveimage", "image", ".png"), ("03_createvideo_savevideo_mp4", "video", ".mp4")],
)
async def test_run_receives_every_event_in_order_and_reads_outputs(
    client: ComfyClient, name: str, kind: str, ext: str
) -> None:
    async with client.events() as stream:
        await stream.wait_connected(30)
        job = await client.submit(unique(sample(f"{name}.prompt.json")))
        stream.track(job.prompt_id)
        events = await events_until(stream, finished(job.prompt_id))
    ours = [(e.type, getattr(e, "node", None)) for e in events if e.prompt_id == job.prompt_id]
    assert ours == captured_sequence(f"{name}.result.json")
    assert not any(e.synthetic for e in events)

    entry = await client.wait_for(job.prompt_id, timeout=30)
    assert entry.outcome == "success" and entry.started_at is not None
    (out,) = entry.files
    assert out.kind == kind and out.filename.endswith(ext) and out.animated == (kind == "video")
    (executed,) = [e for e in events if isinstance(e, ExecutedEvent)]
    assert executed.files == entry.files

    async with client.view(out.filename, subfolder=out.subfolder, type=out.type) as resp:
        assert resp.status_code == 200
        body = b"".join([chunk async for chunk in resp.aiter_bytes()])
    signature = b"\x89PNG" if ext == ".png" else b"ftyp"
    assert signature in body[:12]
    async with client.view(out.filename, subfolder=out.subfolder, range="bytes=4-19") as resp:
        assert resp.status_code == 206
        assert resp.headers["content-range"] == f"bytes 4-19/{len(body)}"
        assert await resp.aread() == body[4:20]


async def test_interrupt_a_running_job(client: ComfyClient) -> None:
    async with client.events() as stream:
        await stream.wait_connected(30)
        job = await client.submit(unique(sample("12_slow_interruptible_tiled.prompt.json")))
        stream.track(job.prompt_id)
        await events_until(stream, lambda e: isinstance(e, ProgressEvent) and e.prompt_id == job.prompt_id)
        await client.interrupt("not-this-job")  # targets nobody: the job keeps running
        await client.interrupt(job.prompt_id)
        events = await events_until(stream, finished(job.prompt_id))
    (interrupted,) = [e for e in events if isinstance(e, ExecutionInterruptedEvent)]
    assert interrupted.node_type == "VAEDecodeTiled"
    with pytest.raises(ExecutionInterrupted) as info:
        await client.wait_for(job.prompt_id, timeout=30)
    assert info.value.node_id == "4"
    entry = await client.history(job.prompt_id)
    assert entry is not None and entry.outcome == "interrupted" and entry.status_str == "error"


async def test_delete_a_pending_job(client: ComfyClient) -> None:
    slow = await client.submit(unique(sample("12_slow_interruptible_tiled.prompt.json")))
    quick = await client.submit(unique(sample("01_emptyimage_saveimage.prompt.json")))
    try:
        snapshot = await client.queue()
        assert quick.prompt_id in [item.prompt_id for item in snapshot.pending]
        assert snapshot.pending[-1].client_id == client.client_id
        await client.delete_pending(quick.prompt_id)
        assert quick.prompt_id not in await client.queue()
    finally:
        await client.interrupt(slow.prompt_id)
    with pytest.raises(ExecutionInterrupted):
        await client.wait_for(slow.prompt_id, timeout=WAIT)
    with pytest.raises(JobLost):
        await client.wait_for(quick.prompt_id, timeout=30)
    assert await client.history(quick.prompt_id) is None


ERRORS = sample("errors.json")
REAL_400 = [
    "unknown_class_type",
    "missing_class_type",
    "missing_required_input",
    "wrong_type_link",
    "link_to_missing_node",
    "int_out_of_range_low",
    "int_not_a_number",
    "combo_not_in_list",
    "no_output_node",
    "multiple_errors",
]


async def test_real_400_answers_become_prompt_rejected_with_the_same_node_errors(client: ComfyClient) -> None:
    for name in REAL_400:
        case = ERRORS[name]
        with pytest.raises(PromptRejected) as info:
            await client.submit(case["request"]["prompt"])
        assert info.value.status_code == 400, name
        assert info.value.error == case["body"]["error"], name
        assert _stable(info.value.node_errors) == _stable(case["body"]["node_errors"]), name


def _stable(node_errors: dict[str, Any]) -> dict[str, Any]:
    """node_errors without what depends on the install or on validation order: tracebacks of
    `exception_during_validation`, the order of a node's errors, and `dependent_outputs` (which outputs
    ComfyUI validated first decides which ones a shared failing node is reported under)."""
    out = copy.deepcopy(node_errors)
    for node in out.values():
        for error in node["errors"]:
            if error["type"] == "exception_during_validation":
                error.pop("details", None)
                error.get("extra_info", {}).pop("traceback", None)
        node["errors"].sort(key=lambda e: json.dumps(e, sort_keys=True))
        node.pop("dependent_outputs", None)
    return out


async def test_files_models_and_system_routes(client: ComfyClient) -> None:
    png = _tiny_png()
    name = f"client_it_{uuid.uuid4().hex[:8]}.png"
    uploaded = await client.upload(png, name, subfolder="client_it")
    assert (uploaded.name, uploaded.subfolder, uploaded.type) == (name, "client_it", "input")
    async with client.view(name, subfolder="client_it", type="input") as resp:
        assert await resp.aread() == png
    renamed = await client.upload(png + b"x", name, subfolder="client_it", overwrite=False)
    assert renamed.name != name

    with pytest.raises(NotFound):
        async with client.view("nope.png"):
            pass
    with pytest.raises(BadRequest):
        async with client.view(name, type="bogus"):
            pass
    with pytest.raises(BadRequest):
        async with client.view("../../etc/passwd"):
            pass

    assert {"checkpoints", "diffusion_models", "vae"} <= set(await client.model_folders())
    assert isinstance(await client.models("vae"), list)
    with pytest.raises(NotFound):
        await client.models("no_such_folder")
    assert await client.view_metadata("vae", "missing.safetensors") is None
    info = await client.object_info()
    assert len(info) > 400 and "SaveVideo" in info
    assert "EmptyImage" in await client.object_info("EmptyImage")
    with pytest.raises(NotFound):
        await client.object_info("NoSuchNode")
    stats = await client.system_stats()
    assert stats["system"]["comfyui_version"] == "0.3.75"
    await client.free(unload_models=False, free_memory=False)
    history = await client.history_all(max_items=1)
    assert len(history) <= 1


def _tiny_png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x00\xff\x00\x00"  # one red pixel, filter byte 0
    out = io.BytesIO()
    out.write(b"\x89PNG\r\n\x1a\n")
    out.write(chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)))
    out.write(chunk(b"IDAT", zlib.compress(raw)))
    out.write(chunk(b"IEND", b""))
    return out.getvalue()
