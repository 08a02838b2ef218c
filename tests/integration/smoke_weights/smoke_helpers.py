"""Helpers of the smoke-weight integration tests (a module of its own: `conftest` names are ambiguous)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from tests.smoke_support import SmokeModels
from tests.support import SAMPLES

__all__ = ["SmokeModels", "fetch", "load_graph", "peak_rss_kib", "run_prompt", "video_output"]


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
