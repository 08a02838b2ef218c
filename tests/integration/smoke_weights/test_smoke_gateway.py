"""Through the gateway: the official t2v graph on smoke weights completes, its mp4 downloads from
/api/outputs and decodes as asked, and /api/models and /health say the backend runs on smoke weights."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from smoke_helpers import SmokeModels
from test_smoke_hunyuan import LENGTH, H, W, t2v_graph

from comfyui_client.local.smoke_weights import check_frames, decode_rgb_frames

pytestmark = pytest.mark.integration
TERMINAL = {"completed", "failed", "cancelled", "timeout"}


@pytest.fixture()
async def gateway(comfyui: Any, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    from api.app import create_app
    from api.settings import Settings

    settings = Settings(
        comfyui_url=comfyui.url,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}",
        checkpoint_db=tmp_path / "checkpoints.db",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", timeout=60) as http:
            yield http


async def wait_terminal(http: httpx.AsyncClient, prompt_id: str, *, within: float = 600.0) -> dict[str, Any]:
    deadline = time.monotonic() + within  # a guard against a hung backend, not a performance claim
    while True:
        resp = await http.get(f"/api/workflow/status/{prompt_id}")
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        if body["status"] in TERMINAL or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.25)


async def test_t2v_job_completes_and_its_mp4_downloads(
    hunyuan_smoke_models: SmokeModels, gateway: httpx.AsyncClient
) -> None:
    resp = await gateway.post(
        "/api/workflow/submit", json={"workflow": {"prompt": t2v_graph(hunyuan_smoke_models, seed=3)}}
    )
    assert resp.status_code == 200, resp.text
    body = await wait_terminal(gateway, resp.json()["prompt_id"])
    assert body["status"] == "completed", body
    (url,) = body["output_videos"]
    video = await gateway.get(url)
    assert video.status_code == 200
    assert video.headers["content-type"].startswith("video/")
    result = check_frames(decode_rgb_frames(video.content), expect_frames=LENGTH, expect_size=(W, H))
    assert result.ok, result.reason


async def test_models_and_health_report_smoke_weights(
    hunyuan_smoke_models: SmokeModels, gateway: httpx.AsyncClient
) -> None:
    resp = await gateway.get("/api/models/diffusion_models")
    assert resp.status_code == 200, resp.text
    flags = {m["name"]: m["smoke_weights"] for m in resp.json()["models"]}
    assert flags[hunyuan_smoke_models.name("dit_t2v")] is True
    health = await gateway.get("/health")
    assert health.status_code == 200, health.text
    assert health.json()["smoke_weights"] is True
