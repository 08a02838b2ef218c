"""The generation and template routes on the real gateway app (lifespan entered) and the real ComfyUI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from comfyui_client import ComfyClient
from tests.gateway_support import planner_gateway_settings, running_gateway, touch_placeholders

pytestmark = pytest.mark.integration

PLACEHOLDERS = {
    "diffusion_models": ["hunyuan_video_t2v_720p_bf16.safetensors"],
    "text_encoders": ["clip_l.safetensors", "llava_llama3_fp8_scaled.safetensors"],
    "vae": ["hunyuan_video_vae_bf16.safetensors"],
}


@pytest.fixture(scope="module")
async def http(comfyui: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    touch_placeholders(Path(comfyui.models_dir), PLACEHOLDERS)
    settings = planner_gateway_settings(comfyui.url, tmp_path_factory.mktemp("gen-gateway"))
    async with running_gateway(settings) as gateway:
        yield gateway.http


async def _wait_terminal(http: httpx.AsyncClient, prompt_id: str) -> dict[str, Any]:
    import asyncio

    for _ in range(1200):
        body: dict[str, Any] = (await http.get(f"/api/workflow/status/{prompt_id}")).json()
        if body["status"] in {"completed", "failed", "cancelled", "timeout"}:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {prompt_id} did not finish: {body}")


async def test_generate_without_submit(http: httpx.AsyncClient) -> None:
    resp = await http.post("/api/workflow/generate", json={"prompt": "a cat surfing, 3 seconds, 720p"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["validation"]["ok"] and body["prompt_id"] is None
    assert body["template"] == "hunyuan_t2v"
    assert {"workflow", "link_list", "intent", "steps"} <= set(body)
    assert [s["agent"] for s in body["steps"]] == ["reformat", "flow", "refine", "validate"]


async def test_generate_submits_a_test_video_that_completes(http: httpx.AsyncClient) -> None:
    resp = await http.post(
        "/api/workflow/generate",
        json={
            "prompt": "a 1 second test video of solid blue frames",
            "submit": True,
            "resolution": "128x128",
        },
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["prompt_id"] and body["status"] == "submitted"
    final = await _wait_terminal(http, body["prompt_id"])
    assert final["status"] == "completed" and final["output_videos"]


async def test_bad_generate_requests_are_4xx(http: httpx.AsyncClient) -> None:
    assert (await http.post("/api/workflow/generate", json={"prompt": ""})).status_code == 422
    assert (await http.post("/api/workflow/generate", json={"nope": 1})).status_code == 422
    resp = await http.post("/api/workflow/generate", json={"prompt": "a fox", "resolution": "huge please"})
    assert resp.status_code == 422 and "resolution" in resp.json()["detail"]
    resp = await http.post("/api/workflow/generate", json={"prompt": "a fox", "template": "no_such_template"})
    assert resp.status_code == 422 and "no_such_template" in resp.json()["detail"]


async def test_generate_stream_sends_each_step(http: httpx.AsyncClient) -> None:
    async with http.stream(
        "POST", "/api/workflow/generate/stream", json={"prompt": "red test image"}
    ) as resp:
        assert resp.status_code == 200
        text = "".join([chunk async for chunk in resp.aiter_text()])
    events = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("event: ")]
    assert events == ["step", "step", "step", "step", "result"]
    result = json.loads(text.strip().split("data: ")[-1])["result"]
    assert result["validation"]["ok"] and result["template"] == "test_image"


async def test_video_generate_answers_like_submit(http: httpx.AsyncClient, comfyui: Any) -> None:
    resp = await http.post(
        "/api/video/generate",
        json={"prompt": "A beautiful sunset over mountains", "duration": 2, "resolution": "512x512",
              "style": "cinematic", "extra_params": {"seed": 11}},
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"prompt_id", "status", "message", "thread_id"} and body["status"] == "pending"
    status = await http.get(f"/api/workflow/status/{body['prompt_id']}")
    assert status.status_code == 200
    run = await http.get(f"/api/workflow/generate/{body['thread_id']}")  # what the agents did for this video
    assert run.status_code == 200, run.text
    assert [step["agent"] for step in run.json()["steps"]][:2] == ["reformat", "flow"]
    # ComfyUI accepted the graph; cancel it (placeholder or smoke weights: nothing worth running here)
    async with ComfyClient(comfyui.url) as comfy:
        for _ in range(600):
            await comfy.delete_pending(body["prompt_id"])
            await comfy.interrupt(body["prompt_id"])
            if body["prompt_id"] not in await comfy.queue():
                break
            await asyncio.sleep(0.1)
    final = await _wait_terminal(http, body["prompt_id"])  # the job is tracked like a submitted one
    assert final["status"] in {"failed", "cancelled", "completed"} and final["source"] == "video"
    assert (await http.post("/api/video/generate", json={"duration": 2})).status_code == 422


async def test_templates_routes(http: httpx.AsyncClient) -> None:
    listed = (await http.get("/api/templates")).json()["templates"]
    names = {t["name"] for t in listed}
    assert {"hunyuan_t2v", "hunyuan_i2v", "test_video", "flux_t2i"} <= names
    detail = (await http.get("/api/templates/test_video")).json()
    assert detail["version"] and detail["parameters"]["frames"]["default"] == 48
    assert "targets" not in detail["parameters"]["frames"]
    assert (await http.get("/api/templates/nope")).status_code == 404
    resp = await http.post(
        "/api/templates/test_video/submit", json={"parameters": {"frames": 5, "color": 255}}
    )
    assert resp.status_code == 200, resp.text
    final = await _wait_terminal(http, resp.json()["prompt_id"])
    assert final["status"] == "completed"
    bad = await http.post("/api/templates/test_video/submit", json={"parameters": {"frames": 100000}})
    assert bad.status_code == 422 and bad.json()["parameter"] == "frames"
    unknown = await http.post("/api/templates/test_video/submit", json={"parameters": {"bogus": 1}})
    assert unknown.status_code == 422
