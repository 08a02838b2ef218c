"""Composed workflows through the gateway's routes on the real ComfyUI: a chain of operations is generated,
accepted and queued through POST /api/workflow/generate; a request needing a node pack the backend lacks is
refused with `missing_capability`, naming the pack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from node_catalog import Catalog
from node_catalog.files import required_files
from pipeline import GenerationRequest, Generator
from tests.gateway_support import planner_gateway_settings, running_gateway, touch_placeholders
from tests.integration.pipeline.test_pipeline_live import tiny_png

pytestmark = pytest.mark.integration

CHAIN = "erase the lamp post from compose_street.png, then upscale it 2x"


@pytest.fixture(scope="module")
async def http(comfyui: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    settings = planner_gateway_settings(comfyui.url, tmp_path_factory.mktemp("compose-gateway"))
    async with running_gateway(settings) as gateway:
        files = {"file": ("compose_street.png", tiny_png(), "image/png")}
        uploaded = await gateway.http.post("/api/inputs", files=files, data={"overwrite": "true"})
        assert uploaded.status_code in (200, 201), uploaded.text
        assert uploaded.json()["ref"] == "compose_street.png", uploaded.text
        yield gateway.http


async def test_a_chain_is_composed_accepted_and_queued(http: httpx.AsyncClient, comfyui: Any) -> None:
    # the model files the composed graph names, as empty placeholders: ComfyUI accepts the graph (and would
    # fail at load time); the gateway validates against the backend's real folders, so they come first
    offline = await Generator(Catalog.bundled()).generate(GenerationRequest(prompt=CHAIN))
    needed = required_files(offline.workflow or {}, Catalog.bundled())
    touch_placeholders(Path(comfyui.models_dir), {k: v for k, v in needed.items() if k != "input"})
    planned = await http.post("/api/workflow/generate", json={"prompt": CHAIN})
    assert planned.status_code == 200, planned.text
    body = planned.json()
    assert [s["op"] for s in body["plan"]["steps"]] == ["edit", "upscale"]
    classes = {n["class_type"] for n in body["workflow"].values()}
    assert {"LoadImage", "ImageScaleBy"} <= classes and classes & {
        "TextEncodeQwenImageEditPlus",
        "ReferenceLatent",
    }
    submitted = await http.post("/api/workflow/generate", json={"prompt": CHAIN, "submit": True})
    assert submitted.status_code == 200, submitted.text
    prompt_id = submitted.json()["prompt_id"]
    assert prompt_id and submitted.json()["status"] == "submitted"
    await http.post(f"/api/workflow/cancel/{prompt_id}")


async def test_a_missing_node_pack_is_a_422_naming_it(http: httpx.AsyncClient) -> None:
    resp = await http.post(
        "/api/workflow/generate",
        json={"prompt": "double the frame rate of compose_clip.mp4 with interpolation"},
    )
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["code"] == "missing_capability"
    assert "RIFE VFI" in body["detail"] and body["thread_id"]
    run = (await http.get(f"/api/workflow/generate/{body['thread_id']}")).json()
    assert run["error_code"] == "missing_capability" and run["plan"]["steps"][0]["op"] == "interpolate"
