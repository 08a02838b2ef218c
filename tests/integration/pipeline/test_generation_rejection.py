"""A generated workflow the JobService refuses at submit goes back to Refine, and the run ends recorded.

There is no deterministic trigger through HTTP alone: the pipeline lists the backend's models itself and the
JobService validates against the same live catalog, so both agree unless a file disappears between the
pipeline's listing and the submission. The test produces exactly that race: the VAE file is moved away at the
moment the JobService submits, so its (cached) catalog still accepts the graph and the real ComfyUI refuses it
(`value_not_in_list`), which the JobService raises as `InvalidWorkflow`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.jobs.service import JobService
from api.jobs.state import Job
from tests.gateway_support import planner_gateway_settings, running_gateway, touch_placeholders

pytestmark = pytest.mark.integration

VAE = "hunyuan_video_vae_bf16.safetensors"
PLACEHOLDERS = {
    "diffusion_models": ["hunyuan_video_t2v_720p_bf16.safetensors"],
    "text_encoders": ["clip_l.safetensors", "llava_llama3_fp8_scaled.safetensors"],
    "vae": [VAE],
}


@pytest.fixture(scope="module")
async def gateway(
    comfyui: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    touch_placeholders(Path(comfyui.models_dir), PLACEHOLDERS)
    settings = planner_gateway_settings(comfyui.url, tmp_path_factory.mktemp("gen-reject-gateway"))
    async with running_gateway(settings) as gw:
        yield gw.app, gw.http


async def test_a_submit_rejection_is_repaired_then_the_run_ends_recorded(
    gateway: tuple[FastAPI, httpx.AsyncClient], comfyui: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, http = gateway
    jobs: JobService = app.state.jobs
    vae = Path(comfyui.models_dir) / "vae" / VAE
    aside = vae.with_name(VAE + ".aside")
    submitted: list[dict[str, Any]] = []
    real_submit = jobs.submit

    async def submit_after_the_file_left(workflow: dict[str, Any], **kwargs: Any) -> Job:
        submitted.append(workflow)
        if vae.exists():
            vae.rename(aside)  # gone from the backend; still in the pipeline's listing and the cached catalog
        return await real_submit(workflow, **kwargs)

    monkeypatch.setattr(jobs, "submit", submit_after_the_file_left)
    try:
        resp = await http.post(
            "/api/workflow/generate",
            json={
                "prompt": "a fox running, 1 second",
                "submit": True,
                "resolution": "128x128",
                "max_repairs": 1,
            },
        )
    finally:
        if aside.exists():
            aside.rename(vae)

    # ComfyUI refused every attempt: a 4xx naming the run, never a 500 nor an escaped InvalidWorkflow
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["code"] == "invalid_workflow", body
    errors = [e for info in body["node_errors"].values() for e in info["errors"]]
    assert [info["class_type"] for info in body["node_errors"].values()] == ["VAELoader"], body
    assert errors and errors[0]["type"] == "value_not_in_list", body
    thread_id = body["thread_id"]
    assert thread_id
    assert len(submitted) >= 2, "the rejection went back to Refine and the repaired graph was submitted again"

    run = (await http.get(f"/api/workflow/generate/{thread_id}")).json()
    assert run["finished"] is True and run["status"] == "failed", run
    executes = [s for s in run["steps"] if s["agent"] == "execute"]
    assert len(executes) == len(submitted)
    assert "rejected by ComfyUI" in executes[0]["summary"], executes[0]
    assert run["error_code"] == "invalid_workflow" and run["prompt_id"] is None
