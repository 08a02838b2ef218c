"""Generation runs are checkpointed: thread_id in the answer, the run readable, the database bounded.

Uses the model-free `test_image` template, so the deterministic planner and the real ComfyUI suffice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.gateway_support import Gateway, gateway_settings, running_gateway

pytestmark = pytest.mark.integration

BODY = {"prompt": "a solid red test image, 64x64", "template": "test_image", "resolution": "64x64"}


async def test_a_generate_run_is_recorded_under_its_thread_id(gateway: Gateway) -> None:
    resp = await gateway.http.post("/api/workflow/generate", json={**BODY, "submit": True, "wait": True})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    thread_id = body["thread_id"]
    assert thread_id and body["status"] == "succeeded" and body["prompt_id"]

    run = await gateway.http.get(f"/api/workflow/generate/{thread_id}")
    assert run.status_code == 200, run.text
    recorded = run.json()
    assert recorded["thread_id"] == thread_id and recorded["finished"]
    for key in ("status", "prompt_id", "template", "workflow", "link_list", "intent", "outputs"):
        assert recorded[key] == body[key], key
    assert [s["agent"] for s in recorded["steps"]] == [s["agent"] for s in body["steps"]]
    assert recorded["request"]["prompt"] == BODY["prompt"] and recorded["checkpoints"] > 1
    assert recorded["started_at"] <= recorded["updated_at"]

    # The streamed variant is recorded too; unknown runs are 404.
    stream = await gateway.http.post("/api/workflow/generate/stream", json=BODY)
    result = [line for line in stream.text.splitlines() if line.startswith("data:") and '"result"' in line]
    assert stream.status_code == 200 and result
    missing = await gateway.http.get("/api/workflow/generate/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_the_checkpoint_database_keeps_the_newest_runs(comfyui: Any, tmp_path: Path) -> None:
    settings = gateway_settings(comfyui.url, tmp_path / "keep.db", checkpoint_keep=2)
    async with running_gateway(settings) as gw:
        ids = []
        for _ in range(3):
            resp = await gw.http.post("/api/workflow/generate", json=BODY)
            assert resp.status_code == 200, resp.text
            ids.append(resp.json()["thread_id"])
        assert (await gw.http.get(f"/api/workflow/generate/{ids[0]}")).status_code == 404
        for kept in ids[1:]:
            assert (await gw.http.get(f"/api/workflow/generate/{kept}")).status_code == 200
        saver = await gw.app.state.generation.checkpoints()  # built by the first generation request
        assert await saver.thread_ids() == ids[:0:-1]
    assert settings.checkpoint_db.exists()
    with pytest.raises(ValueError, match="no active connection"):
        await saver.thread_ids()  # the lifespan closed the saver at shutdown
    # A restarted gateway still has the kept runs.
    async with running_gateway(settings) as gw:
        assert (await gw.http.get(f"/api/workflow/generate/{ids[-1]}")).status_code == 200
