"""Hostile input against the real local ComfyUI (live catalog): ComfyUI itself accepts an annotated absolute
path (" [output]" joins it onto output/ unconfined) and reads any image on its host; the gateway refuses it
before ComfyUI is asked. A long chain and a too-wide integer are 400s, and the backend keeps serving."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway_support import Gateway, fresh
from tests.support import solid_png

pytestmark = pytest.mark.integration


def red_png(size: int) -> bytes:
    return solid_png(size, size, (255, 0, 0))


async def test_comfyui_would_read_any_file_the_gateway_refuses(gateway: Gateway, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(red_png(8))
    graph: dict[str, Any] = {
        "1": {"class_type": "LoadImage", "inputs": {"image": f"{secret} [output]"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "leak"}},
    }
    # The attack as it was: ComfyUI's own validation lets the absolute path through.
    async with httpx.AsyncClient(base_url=gateway.app.state.client.base_url) as comfy:
        verdict = await comfy.post("/prompt", json={"prompt": graph, "client_id": "probe"})
        assert verdict.status_code == 200, verdict.text  # queued: ComfyUI would read the file
        await comfy.post("/queue", json={"delete": [verdict.json()["prompt_id"]]})
        await comfy.post("/interrupt", json={"prompt_id": verdict.json()["prompt_id"]})
    resp = await gateway.http.post("/api/workflow/submit", json={"workflow": {"prompt": graph}})
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert {e["type"] for e in body["node_errors"]["1"]["errors"]} >= {"input_path_not_allowed"}


async def test_chain_and_wide_integer_are_400s_and_the_backend_still_serves(gateway: Gateway) -> None:
    graph: dict[str, Any] = json.loads(json.dumps(fresh("01_emptyimage_saveimage.prompt.json")))
    first = next(k for k, n in graph.items() if n["class_type"] == "EmptyImage")
    save = next(k for k, n in graph.items() if n["class_type"] == "SaveImage")
    previous = first
    for i in range(400):
        graph[f"c{i}"] = {"class_type": "ImageInvert", "inputs": {"image": [previous, 0]}}
        previous = f"c{i}"
    graph[save]["inputs"]["images"] = [previous, 0]
    resp = await gateway.http.post("/api/workflow/submit", json={"workflow": {"prompt": graph}})
    assert resp.status_code == 400 and "MAX_GRAPH_DEPTH" in resp.json()["detail"]

    wide = fresh("01_emptyimage_saveimage.prompt.json")
    wide[first]["inputs"]["color"] = 10**400
    resp = await gateway.http.post("/api/workflow/submit", json={"workflow": {"prompt": wide}})
    assert resp.status_code == 400 and "64-bit" in resp.json()["detail"]

    prompt_id = await gateway.submit(fresh("01_emptyimage_saveimage.prompt.json"))
    assert (await gateway.wait(prompt_id))["status"] == "completed"
