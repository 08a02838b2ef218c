"""Jobs are never lost: a gateway restart mid-job, ComfyUI killed mid-job, ComfyUI down (own ComfyUI here)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.jobs import JobStatus, JobStore
from tests.gateway_support import fresh, gateway_settings, running_gateway

pytestmark = pytest.mark.integration

SLOW = "12_slow_interruptible_tiled.prompt.json"


async def test_gateway_restarted_mid_job_reports_completed(comfyui: Any, tmp_path: Path) -> None:
    settings = gateway_settings(comfyui.url, tmp_path / "restart.db")
    async with running_gateway(settings) as first:
        prompt_id = await first.submit(fresh(SLOW))
        await first.wait(prompt_id, until={"running"})
    store = JobStore(settings.database_url)
    await store.open()
    try:
        recorded = await store.get(prompt_id)
    finally:
        await store.close()
    assert recorded is not None and recorded.status is JobStatus.RUNNING  # the gateway went away mid-job
    # A new instance on the same database: events (same stored client id) or /history settle the job.
    async with running_gateway(settings) as second:
        client = second.app.state.client
        body = await second.wait(prompt_id, within=90)
        assert body["status"] == "completed", body
        assert body["output_images"] and body["progress"] == 100
        entry = await client.history(prompt_id)
        assert entry is not None and entry.outcome == "success"


@pytest.fixture(scope="module")
def own_comfyui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A ComfyUI of this module's own: these tests kill it."""
    from comfyui_local import LocalComfyUI, install

    with LocalComfyUI(install(), base_dir=tmp_path_factory.mktemp("own-comfyui")) as comfy:
        yield comfy


async def test_comfyui_killed_mid_job_fails_it_and_down_gives_503(own_comfyui: Any, tmp_path: Path) -> None:
    settings = gateway_settings(own_comfyui.url, tmp_path / "kill.db", comfyui_timeout=3.0)
    async with running_gateway(settings) as gw:
        prompt_id = await gw.submit(fresh(SLOW))
        await gw.wait(prompt_id, until={"running"})
        await asyncio.to_thread(own_comfyui.stop, kill=True)
        try:
            started = time.monotonic()
            health = await gw.http.get("/health")
            assert health.status_code == 503 and "Retry-After" in health.headers
            assert health.json()["comfyui"]["reachable"] is False
            submit = await gw.http.post(
                "/api/workflow/submit", json={"workflow": fresh("01_emptyimage_saveimage.prompt.json")}
            )
            assert submit.status_code == 503 and submit.headers["Retry-After"]
            assert submit.json()["code"] == "comfyui_unavailable"
            assert (await gw.http.get("/api/queue")).status_code == 503
            assert (await gw.http.get("/health/live")).status_code == 200
            assert time.monotonic() - started < 4 * settings.comfyui_timeout
            assert (await gw.status(prompt_id))["status"] == "running"  # not known yet: ComfyUI may come back
        finally:
            await asyncio.to_thread(own_comfyui.start)
        body = await gw.wait(prompt_id, within=60)
        assert body["status"] == "failed", body
        assert body["error"]["type"] == "job_lost" and "ComfyUI" in body["error"]["message"]


async def test_backend_down_at_start_serves_bundled_catalog_and_503(tmp_path: Path) -> None:
    from comfyui_local import free_port

    settings = gateway_settings(f"http://127.0.0.1:{free_port()}", tmp_path / "down.db", comfyui_timeout=2.0)
    async with running_gateway(settings) as gw:
        started = time.monotonic()
        health = await gw.http.get("/health")
        assert health.status_code == 503 and health.headers["Retry-After"]
        assert health.json()["catalog"]["source"].startswith("bundled")
        submit = await gw.http.post(
            "/api/workflow/submit", json={"workflow": fresh("01_emptyimage_saveimage.prompt.json")}
        )
        assert submit.status_code == 503 and submit.json()["code"] == "comfyui_unavailable"
        for path in ("/api/queue", "/api/models", "/api/models/vae", "/api/outputs/output/x.png"):
            assert (await gw.http.get(path)).status_code == 503, path
        assert time.monotonic() - started < 8 * settings.comfyui_timeout
        # Validation still works from the bundled catalog: a bad graph is a 400, not a 503.
        bad = await gw.http.post(
            "/api/workflow/submit", json={"workflow": {"1": {"class_type": "Nope", "inputs": {}}}}
        )
        assert bad.status_code == 400
        assert (await gw.http.get("/health/live")).status_code == 200
