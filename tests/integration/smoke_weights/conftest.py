"""HunyuanVideo smoke weights on the shared real ComfyUI: generated once per machine, copied in per test.

`hunyuan_smoke_models` is meant to be promoted to tests/conftest.py for the API and pipeline tests: it makes
the official HunyuanVideo file names in `comfyui.models_dir` real (stub) smoke weights, replacing the empty
placeholders other tests write under the same names, and does so again before every test that asks for it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from comfyui_client.local import default_root, install
from comfyui_client.local.smoke_weights import (
    ALL_FILES,
    SmokeWeightsReport,
    build_smoke_weights,
    install_smoke_weights,
)

log = logging.getLogger(__name__)
SAMPLES = Path(__file__).parents[2] / "fixtures" / "comfyui" / "samples"
KIND, SEED = "stub", 0


@dataclass(frozen=True)
class SmokeModels:
    """The smoke files as placed in the fixture's models folder, plus the cache they came from."""

    models_dir: Path
    cache_dir: Path
    paths: dict[str, Path]  # role -> file in models_dir
    report: SmokeWeightsReport

    def name(self, role: str) -> str:
        return self.paths[role].name


@pytest.fixture(scope="session")
def smoke_weights_cache() -> SmokeWeightsReport:
    """Stub smoke weights in ~/.cache/comfy-gateway/smoke-weights/stub-0 (written once per machine)."""
    cache = default_root().parent / "smoke-weights" / f"{KIND}-{SEED}"
    started = time.monotonic()
    report = build_smoke_weights(cache, inst=install(), kind=KIND, seed=SEED)
    log.info("smoke weights ready in %.1f s (generated: %s)", time.monotonic() - started, report.generated)
    return report


@pytest.fixture()
def hunyuan_smoke_models(comfyui: Any, smoke_weights_cache: SmokeWeightsReport) -> SmokeModels:
    """Copy the smoke files into the running ComfyUI's models folder (cheap when already there)."""
    cache_dir = smoke_weights_cache.paths[0].parents[1]
    placed = install_smoke_weights(smoke_weights_cache.paths, cache_dir, comfyui.models_dir)
    return SmokeModels(
        models_dir=comfyui.models_dir,
        cache_dir=cache_dir,
        paths={f.role: p for f, p in zip(ALL_FILES, placed, strict=True)},
        report=smoke_weights_cache,
    )


@pytest.fixture()
def comfy_http(comfyui: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=comfyui.url, timeout=30.0) as client:
        yield client


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
