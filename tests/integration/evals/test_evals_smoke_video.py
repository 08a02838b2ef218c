"""The evals' executed_rate counts HunyuanVideo cases that really ran on smoke weights: the planner's graphs
for two requests are accepted by the real ComfyUI as generated, then a 64x64, 5-frame, 2-step copy of each
runs and its mp4 passes `check_frames`. Both requests share one prompt text ("sunset"), so the 8B stub
text encoder runs once. Timing is logged, never asserted."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from evals.live import ComfyBackend
from evals.runner import run_eval
from tests.smoke_support import SmokeModels, place_families

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

CASES = [
    {
        "id": "sunset-720p",
        "prompt": "a sunset, 3 seconds, 720p",
        "expect": {"task": "text-to-video", "output": "video", "frames": 73, "width": 1280, "height": 720},
    },
    {
        "id": "sunset-512",
        "prompt": "a 2 second video of a sunset at 512x512",
        "expect": {"task": "text-to-video", "output": "video", "frames": 49, "width": 512, "height": 512},
    },
]


def write_set(path: Path) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in CASES))
    return path


async def test_smoke_weight_backend_is_detected_from_the_files_metadata(
    hunyuan_smoke_models: SmokeModels, comfyui: Any
) -> None:
    backend = await ComfyBackend.connect(comfyui.url)
    try:
        dit = [hunyuan_smoke_models.name("dit_t2v")]
        vae = hunyuan_smoke_models.name("vae")
        assert await backend.smoke_weights({"diffusion_models": dit, "vae": [vae]})
        assert not await backend.smoke_weights({"diffusion_models": dit, "vae": ["no_such_vae.safetensors"]})
        assert not await backend.smoke_weights({})
    finally:
        await backend.aclose()


async def test_hunyuan_cases_run_on_smoke_weights_and_count_in_executed_rate(
    hunyuan_smoke_models: SmokeModels, comfyui: Any, tmp_path: Path
) -> None:
    set_path = write_set(tmp_path / "sunsets.jsonl")
    started = time.monotonic()
    report = await run_eval(
        set_path, comfyui_url=comfyui.url, out_dir=tmp_path / "smoke", concurrency=2, execute_video="smoke"
    )
    seconds = time.monotonic() - started
    for r in report.cases:
        assert r.needs_weights and r.live_passed, (r.id, r.live_problems)
        assert r.smoke_run and r.executed, (r.id, r.execution_error)
        assert r.outputs == 1
        # Scored on the graph as generated, not on the downscaled copy that ran.
        assert all(c.ok for c in r.checks), (r.id, r.checks)
    m = report.metrics
    assert (m.executed_cases, m.executed_rate) == (2, 1.0)
    log.info("2 HunyuanVideo cases generated, accepted and run on smoke weights in %.1f s", seconds)

    never = await run_eval(
        set_path, comfyui_url=comfyui.url, out_dir=tmp_path / "never", concurrency=2, execute_video="never"
    )
    for r in never.cases:
        assert r.live_passed and r.executed is None and not r.smoke_run
    assert (never.metrics.executed_cases, never.metrics.executed_rate) == (0, None)


I2V_CASE = {
    "id": "sunset-i2v",
    "prompt": "Animate this photo: the sun sinks behind the hills, 2 seconds",
    "inputs": {"image": "sunset.png"},
    "expect": {"task": "image-to-video", "output": "video", "nodes": ["LoadImage"], "frames": 49},
}


@pytest.mark.slow
async def test_generated_image_to_video_graph_runs_its_own_text_node_on_smoke_weights(
    hunyuan_smoke_models: SmokeModels, comfyui: Any, tmp_path: Path
) -> None:
    """The planner's i2v graph as generated (ComfyUI's TextEncodeHunyuanVideo_ImageToVideo reading the llava
    CLIP vision tower's image tokens into the stub Llama, then HunyuanImageToVideo) runs and its frames pass
    the check. A CLIP vision file with non-finite layer norms once made every such case NaN."""
    # The whole family (the planner names the v2 "replace" I2V model when the backend lists it, and earlier
    # suites leave empty placeholders under its name)
    place_families(hunyuan_smoke_models.cache_dir, ["hunyuan_video"], comfyui.models_dir)
    set_path = tmp_path / "i2v.jsonl"
    set_path.write_text(json.dumps(I2V_CASE) + "\n")
    started = time.monotonic()
    out = tmp_path / "out"
    report = await run_eval(set_path, comfyui_url=comfyui.url, out_dir=out, execute_video="smoke")
    (r,) = report.cases
    assert {"TextEncodeHunyuanVideo_ImageToVideo", "CLIPVisionEncode", "HunyuanImageToVideo"} <= set(r.nodes)
    assert r.needs_weights, r.model_files
    assert r.live_passed, r.live_problems
    assert r.smoke_run and r.executed, r.execution_error
    assert report.metrics.executed_rate == 1.0
    log.info("generated HunyuanVideo i2v case run on smoke weights in %.1f s", time.monotonic() - started)
