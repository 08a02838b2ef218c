"""Helpers of the smoke-weight integration tests (a module of its own: `conftest` names are ambiguous)."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from comfyui_client import ComfyClient
from comfyui_local.smoke_weights import check_frames, decode_rgb_frames, is_smoke_weights
from evals.smoke import downscaled
from node_catalog import Catalog
from node_catalog.files import required_files
from pipeline import GenerationRequest, Generator
from tests.smoke_support import SmokeModels, place_families

__all__ = ["place_families"]  # the tests of this folder import it from here
from tests.support import SAMPLES

__all__ = [
    "SmokeModels",
    "assert_all_smoke",
    "comfy_peak_mib",
    "fetch",
    "generate_and_run_shrunk",
    "live_backend",
    "load_graph",
    "loaded_files",
    "peak_rss_kib",
    "place_families",
    "run_prompt",
    "video_output",
]
log = logging.getLogger(__name__)


def load_graph(name: str) -> dict[str, Any]:
    graph: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return graph


def run_prompt(
    http: httpx.Client, graph: dict[str, Any], *, timeout: float = 600.0
) -> tuple[dict[str, Any], float]:
    """Submit a graph and wait for its history entry; returns (entry, seconds). No timing assumptions:
    the deadline is only a guard against a hung ComfyUI."""
    started = time.monotonic()
    resp = http.post("/prompt", json={"prompt": graph, "client_id": "smoke-weights-tests"})
    assert resp.status_code == 200, resp.text
    prompt_id = resp.json()["prompt_id"]
    while time.monotonic() - started < timeout:
        entry = http.get(f"/history/{prompt_id}").json().get(prompt_id)
        if entry and entry["status"].get("status_str") in ("success", "error"):
            return entry, time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"prompt {prompt_id} did not finish within {timeout:.0f} s")


def video_output(entry: dict[str, Any], node: str) -> dict[str, str]:
    """The one file SaveVideo reported (ComfyUI lists videos under `images`, with `animated`)."""
    (item,) = entry["outputs"][node]["images"]
    return {k: item[k] for k in ("filename", "subfolder", "type")}


def fetch(http: httpx.Client, file: dict[str, str]) -> bytes:
    resp = http.get("/view", params=file)
    assert resp.status_code == 200, resp.text
    return resp.content


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


@contextlib.asynccontextmanager
async def live_backend(comfyui: Any, upload: bytes, name: str) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    """A client of the session ComfyUI, with `upload` in its input folder as `name`, and its live catalog."""
    async with ComfyClient(comfyui.url, timeout=30) as client:
        await client.upload(upload, name, overwrite=True)
        yield client, await Catalog.live(client)


def comfy_peak_mib(comfyui: Any) -> float:
    """The session ComfyUI's peak RSS so far (0 when it is not our process)."""
    return peak_rss_kib(comfyui.proc.pid) / 1024 if comfyui.proc is not None else 0.0


def loaded_files(workflow: dict[str, Any], class_type: str, input_name: str) -> list[str]:
    """The file names the graph's `class_type` nodes load through `input_name`."""
    return [n["inputs"][input_name] for n in workflow.values() if n["class_type"] == class_type]


def assert_all_smoke(workflow: dict[str, Any], catalog: Catalog, models_dir: Path) -> None:
    """Every model file of the graph is a smoke-weight file: the run proves the smoke set runs."""
    for folder, names in required_files(workflow, catalog).items():
        if folder != "input":
            for name in names:
                assert is_smoke_weights(models_dir / folder / name), (folder, name)


async def generate_and_run_shrunk(
    client: ComfyClient,
    catalog: Catalog,
    comfyui: Any,
    request: GenerationRequest,
    label: str,
    *,
    wait: float = 300.0,
    expect_size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Generate a graph (not submitted), check its model files are smoke weights, run it shrunk as the eval
    runner does (`evals.smoke.downscaled`) and frame-check its first saved image or video (`expect_size`:
    the frames' size when the graph rescales them, else the shrunk size); returns the graph."""
    result = await Generator(catalog, client=client).generate(request)
    assert result.error is None and result.status == "valid", (result.status, result.error, result.errors)
    workflow = result.workflow or {}
    assert_all_smoke(workflow, catalog, Path(comfyui.models_dir))
    small = downscaled(workflow)
    started = time.monotonic()
    submitted = await client.submit(small.workflow)
    entry = await client.wait_for(submitted.prompt_id, timeout=wait)
    (out, *_) = [f for f in entry.files if f.kind in ("image", "video")]
    async with client.view(out.filename, subfolder=out.subfolder, type=out.type) as resp:
        check = check_frames(
            decode_rgb_frames(await resp.aread()),
            expect_frames=small.expect_frames if out.kind == "video" else 1,
            expect_size=expect_size or small.expect_size,
        )
    assert check.ok, check.reason
    log.info(
        "%s (composed, shrunk to %s): ran in %.1f s, ComfyUI peak RSS %.0f MiB",
        label,
        small.expect_size,
        time.monotonic() - started,
        comfy_peak_mib(comfyui),
    )
    return workflow
