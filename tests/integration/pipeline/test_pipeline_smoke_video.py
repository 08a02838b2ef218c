"""Issue 7's "done means" for the pipeline: the generator's own HunyuanVideo graph, made from the spec's
plain request, runs through the gateway on smoke weights to `completed`, and its mp4 (downloaded from
/api/outputs) decodes to the frame count, width and height asked for, with no NaN-born frames.

The request is exactly a newcomer's first one (no `steps`): the template's 20 steps of the tiny smoke DiT at
64x64x5 cost little next to encoding the text once. Timing is logged, never asserted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from comfyui_client import ComfyClient
from comfyui_local.smoke_weights import check_frames, decode_rgb_frames
from tests.gateway_support import Gateway, planner_gateway_settings, running_gateway
from tests.smoke_support import SmokeModels

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

REQUEST = {"prompt": "a sunset", "duration": 0.2, "resolution": "64x64"}


@pytest.fixture()
async def gateway(comfyui: Any, tmp_path: Path) -> AsyncIterator[Gateway]:
    # the planner, whatever the environment says: the graph must not depend on an LLM being reachable
    async with running_gateway(planner_gateway_settings(comfyui.url, tmp_path)) as gw:
        yield gw


def nodes_of(graph: dict[str, Any], class_type: str) -> list[dict[str, Any]]:
    return [n["inputs"] for n in graph.values() if n["class_type"] == class_type]


async def test_generated_video_graph_runs_through_the_gateway_on_smoke_weights(
    hunyuan_smoke_models: SmokeModels, gateway: Gateway, comfyui: Any
) -> None:
    started = time.monotonic()
    resp = await gateway.http.post("/api/video/generate", json=REQUEST)
    assert resp.status_code == 200, resp.text
    prompt_id = resp.json()["prompt_id"]
    body = await gateway.wait(prompt_id, within=600.0)
    seconds = time.monotonic() - started
    assert body["status"] == "completed", body

    # What the pipeline generated, as ComfyUI ran it.
    async with ComfyClient(comfyui.url) as client:
        entry = await client.history(prompt_id)
    assert entry is not None
    graph = entry.prompt
    (latent,) = nodes_of(graph, "EmptyHunyuanLatentVideo")
    (video,) = nodes_of(graph, "CreateVideo")
    (loader,) = nodes_of(graph, "UNETLoader")
    assert loader["unet_name"] == hunyuan_smoke_models.name("dit_t2v")
    frames = latent["length"]
    # 0.2 s at the generator's fps, on HunyuanVideo's 4k+1 frame grid.
    assert frames % 4 == 1
    assert abs(frames - 0.2 * video["fps"]) <= 2, (frames, video["fps"])
    assert (latent["width"], latent["height"]) == (64, 64)

    (url,) = body["output_videos"]
    assert url.startswith("/api/outputs/") or "/api/outputs/" in url
    mp4 = await gateway.http.get(url)
    assert mp4.status_code == 200, mp4.text
    assert mp4.headers["content-type"].startswith("video/")
    result = check_frames(decode_rgb_frames(mp4.content), expect_frames=frames, expect_size=(64, 64))
    assert result.ok, result.reason
    (scheduler,) = nodes_of(graph, "BasicScheduler")
    log.info(
        "generated t2v %dx%dx%d, %d steps: request to completed %.1f s",
        64,
        64,
        frames,
        scheduler["steps"],
        seconds,
    )
