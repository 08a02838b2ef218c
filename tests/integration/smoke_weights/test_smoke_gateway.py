"""Through the gateway: the official t2v graph on smoke weights completes, its mp4 downloads from
/api/outputs and decodes as asked, and /api/models and /health say the backend runs on smoke weights."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from smoke_helpers import SmokeModels
from test_smoke_hunyuan import LENGTH, H, W, t2v_graph

from comfyui_local.smoke_weights import check_frames, decode_rgb_frames
from tests.gateway_support import Gateway, gateway_settings, running_gateway

pytestmark = pytest.mark.integration


@pytest.fixture()
async def gateway(comfyui: Any, tmp_path: Path) -> AsyncIterator[Gateway]:
    async with running_gateway(
        gateway_settings(comfyui.url, tmp_path / "jobs.db", comfyui_timeout=30.0)
    ) as gw:
        yield gw


async def test_t2v_job_completes_and_its_mp4_downloads(
    hunyuan_smoke_models: SmokeModels, gateway: Gateway
) -> None:
    resp = await gateway.http.post(
        "/api/workflow/submit", json={"workflow": {"prompt": t2v_graph(hunyuan_smoke_models, seed=3)}}
    )
    assert resp.status_code == 200, resp.text
    body = await gateway.wait(resp.json()["prompt_id"], within=600.0)
    assert body["status"] == "completed", body
    (url,) = body["output_videos"]
    video = await gateway.http.get(url)
    assert video.status_code == 200
    assert video.headers["content-type"].startswith("video/")
    result = check_frames(decode_rgb_frames(video.content), expect_frames=LENGTH, expect_size=(W, H))
    assert result.ok, result.reason


async def test_models_and_health_report_smoke_weights(
    hunyuan_smoke_models: SmokeModels, gateway: Gateway
) -> None:
    resp = await gateway.http.get("/api/models/diffusion_models")
    assert resp.status_code == 200, resp.text
    flags = {m["name"]: m["smoke_weights"] for m in resp.json()["models"]}
    assert flags[hunyuan_smoke_models.name("dit_t2v")] is True
    health = await gateway.http.get("/health")
    assert health.status_code == 200, health.text
    assert health.json()["smoke_weights"] is True
