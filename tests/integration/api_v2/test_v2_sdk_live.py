"""The official `comfy-sdk` (sync and async) against the gateway on the real local ComfyUI: upload, submit by
name and by asset handle, stream to the end, download (Range), cancel, single-use Idempotency-Key,
`extra_data` forwarded and never stored, and one job seen through both surfaces; then schemathesis over the
vendored contract with a live backend (no 5xx)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import comfy_sdk
import httpx
import pytest
import schemathesis
from comfy_sdk import OutputReady, StatusChange
from hypothesis import HealthCheck, settings

from tests.gateway_support import fresh, serve_in_thread
from tests.unit.api_v2.test_v2_contract_fuzz import schema, validate

pytestmark = pytest.mark.integration

INPUT_NAME = "sdk_e2e_input.png"
SLOW = "12_slow_interruptible_tiled.prompt.json"
EDIT = {
    "1": {"class_type": "LoadImage", "inputs": {"image": INPUT_NAME}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"filename_prefix": "v2_sdk", "images": ["2", 0]}},
}


def gradient_png(width: int = 64, height: int = 48) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    raw = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, y * 255 // height, 128))
        for y in range(height)
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def live(comfyui: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("v2live")
    for url in serve_in_thread(tmp, comfyui.url, comfyui_timeout=30.0, max_body_bytes=20 * 1024 * 1024):
        yield url, tmp / "gateway.db"


@pytest.fixture
def client(live: tuple[str, Path], sdk_env: Any) -> Iterator[comfy_sdk.Comfy]:
    sdk_env(live[0])
    with comfy_sdk.Comfy(timeout=60) as c:
        yield c


def edit_graph(image: object) -> dict[str, Any]:
    graph: dict[str, Any] = json.loads(json.dumps(EDIT))
    graph["1"]["inputs"]["image"] = image
    return graph


def check_png_output(job: comfy_sdk.Job) -> None:
    assert job.status == "succeeded", (job.status, job.error)
    outputs = job.get_outputs("3")
    assert outputs and outputs[0].type == "image" and outputs[0].content_type == "image/png"
    data = outputs[0].to_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) == outputs[0].size_bytes
    assert struct.unpack(">II", data[16:24]) == (64, 48)
    assert outputs[0].to_bytes(range=(0, 7)) == data[:8]  # Range passed through to ComfyUI's /view
    url = outputs[0].get_download_url().url
    assert httpx.get(url, headers={"Range": "bytes=999999-"}).status_code == 416


def test_upload_then_submit_by_name_and_by_handle(client: comfy_sdk.Comfy) -> None:
    asset = client.assets.from_bytes(gradient_png(), filename=INPUT_NAME, content_type="image/png")
    asset_id = asset.commit()
    assert client.assets.from_bytes(gradient_png(), filename=INPUT_NAME).commit() == asset_id  # dedup

    by_name = client.run(client.workflows.from_json(edit_graph(INPUT_NAME)), timeout=300)
    check_png_output(by_name)
    ran = by_name.get_workflow()
    assert ran.format == "api" and ran.graph["1"]["inputs"]["image"].startswith("v2_")

    wf = client.workflows.from_json(edit_graph(""))
    wf.set_input("1", "image", asset)
    check_png_output(client.run(wf, timeout=300))


def test_events_stream_to_the_terminal_status(client: comfy_sdk.Comfy) -> None:
    # A few seconds of tiled decoding: the client connects while the job is queued or running.
    job = client.submit(client.workflows.from_json(fresh(SLOW, **{"1.width": 1024, "1.height": 1024})))
    events: list[Any] = []
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            events.extend(job.events())
        except BaseException as exc:
            failures.append(exc)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    consumer.join(timeout=180)
    assert not consumer.is_alive() and not failures, (failures, events)
    assert isinstance(events[0], StatusChange) and events[0].status in ("queued", "running"), events
    assert any(type(e).__name__ == "Progress" for e in events), events
    assert isinstance(events[-1], StatusChange) and events[-1].status == "succeeded", events
    assert any(isinstance(e, OutputReady) for e in events[:-1]), events
    # A job that finished before the client connected: its outputs, then its terminal status, then the end.
    again = list(client.jobs.get(job.id).events())
    assert [type(e) for e in again] == [OutputReady, StatusChange] and again[-1].status == "succeeded"


def test_cancel_is_idempotent(client: comfy_sdk.Comfy, live: tuple[str, Path]) -> None:
    slow = client.submit(client.workflows.from_json(fresh(SLOW)))
    behind = client.submit(client.workflows.from_json(fresh("01_emptyimage_saveimage.prompt.json")))
    assert behind.cancel().status in ("canceling", "canceled")
    behind.wait(timeout=60)
    assert behind.status == "canceled" and behind.cancel().status == "canceled"
    assert slow.cancel().status in ("canceling", "canceled")
    assert slow.wait(timeout=120).status == "canceled"
    # The user's spec surface sees the same job.
    spec = httpx.get(f"{live[0]}/api/workflow/status/{slow.id}").json()
    assert spec["status"] == "cancelled"


def test_idempotency_key_is_single_use_and_extra_data_is_not_stored(
    client: comfy_sdk.Comfy, live: tuple[str, Path]
) -> None:
    wf = client.workflows.from_json(fresh("01_emptyimage_saveimage.prompt.json"))
    job = client.submit(wf, idempotency_key="v2-key-1", api_key="partner-secret-123")
    with pytest.raises(comfy_sdk.IdempotencyKeyReuse):
        client.submit(wf, idempotency_key="v2-key-1")
    other = client.workflows.from_json(fresh("01_emptyimage_saveimage.prompt.json"))
    with pytest.raises(comfy_sdk.IdempotencyKeyReuse):
        client.submit(other, idempotency_key="v2-key-1")
    # A refused submission does not claim its key.
    with pytest.raises(comfy_sdk.InvalidWorkflow):
        client.submit(
            client.workflows.from_json({"1": {"class_type": "SaveImage", "inputs": {}}}),
            idempotency_key="v2-key-2",
        )
    client.submit(wf, idempotency_key="v2-key-2")
    assert job.result().status == "succeeded"
    with sqlite3.connect(live[1]) as db:
        stored = db.execute("SELECT extra_data, request FROM jobs WHERE prompt_id = ?", (job.id,)).fetchone()
    assert stored is not None and "partner-secret-123" not in str(stored)


def test_a_spec_route_job_is_a_v2_job(client: comfy_sdk.Comfy, live: tuple[str, Path]) -> None:
    graph = fresh("01_emptyimage_saveimage.prompt.json")
    resp = httpx.post(f"{live[0]}/api/workflow/submit", json={"workflow": {"prompt": graph}}, timeout=60)
    assert resp.status_code == 200, resp.text
    job = client.jobs.get(resp.json()["prompt_id"]).result()
    assert job.outputs and job.outputs[0].to_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_async_sdk_runs_and_streams(live: tuple[str, Path], sdk_env: Any) -> None:
    sdk_env(live[0])

    async def scenario() -> None:
        async with comfy_sdk.AsyncComfy(timeout=60) as client:
            asset = client.assets.from_bytes(gradient_png(), filename="async_input.png")
            wf = client.workflows.from_json(edit_graph(""))
            wf.set_input("1", "image", asset)
            job = await client.submit(wf)
            events = [ev async for ev in job.events()]
            assert isinstance(events[-1], StatusChange) and events[-1].status == "succeeded", events
            await job.refresh()
            data = await job.get_outputs("3")[0].to_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n"

    asyncio.run(scenario())


def test_a_plain_language_job_through_the_generate_extension(
    client: comfy_sdk.Comfy, live: tuple[str, Path]
) -> None:
    body = {
        "workflow": {},
        "generate": {"prompt": "a 1 second test video of solid blue frames", "resolution": "128x128"},
    }
    resp = httpx.post(f"{live[0]}/api/v2/jobs", json=body, timeout=300)
    assert resp.status_code == 201, resp.text
    job = client.jobs.get(resp.json()["id"]).result()
    assert job.outputs and job.outputs[0].type == "video"
    assert job.get_workflow().graph  # the generated graph is the job's workflow
    refused = httpx.post(
        f"{live[0]}/api/v2/jobs", json={"workflow": {}, "generate": {"prompt": ""}}, timeout=60
    )
    assert refused.status_code == 422 and set(refused.json()) == {"error"}


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_contract_holds_with_a_live_backend(case: schemathesis.Case, live: tuple[str, Path]) -> None:
    validate(case, live[0])
