"""executed_rate over image and video families on the real local ComfyUI with the whole smoke set: the
planner's graphs for SD1.5 and SDXL text to image, a model upscale (ESRGAN x4, a `.pth` whose smoke marker
ComfyUI cannot read) and HunyuanVideo text to video are accepted as generated, then a shrunk copy of each
(64x64, 2 steps, batch 1; 5 frames for the video) runs and its output decodes and passes `check_frames`.
Timing is logged, never asserted (the SDXL text encoders and the HunyuanVideo Llama take most of it)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from comfyui_local.smoke_weights import is_smoke_weights
from evals.runner import run_eval
from tests.smoke_support import SmokeModels, place_families

pytestmark = [pytest.mark.integration, pytest.mark.slow]
log = logging.getLogger(__name__)

IMAGE_FAMILIES = ("sd15", "sdxl", "esrgan")
CASES = [
    {
        "id": "hunyuan-t2v",
        "prompt": "a 2 second video of a sunset at 512x512",
        "expect": {"task": "text-to-video", "output": "video", "frames": 49, "width": 512, "height": 512},
    },
    {
        "id": "sd15-t2i",
        "prompt": "an SD1.5 image of a lighthouse on a cliff at sunset, 512x512",
        "expect": {"task": "text-to-image", "output": "image", "width": 512, "height": 512},
    },
    {
        "id": "sdxl-t2i",
        "prompt": "an SDXL picture of a lighthouse on a cliff at sunset",
        "expect": {"task": "text-to-image", "output": "image"},
    },
    {
        "id": "upscale-model",
        "prompt": "upscale this image 4x with an upscale model",
        "inputs": {"image": "smoke_small.png"},
        "expect": {"task": "upscale", "output": "image", "nodes": ["UpscaleModelLoader"]},
    },
]


@pytest.fixture()
def all_smoke_models(hunyuan_smoke_models: SmokeModels) -> Path:
    """HunyuanVideo and the image families' stub smoke weights in the freshly restarted ComfyUI's models
    folder (the image files written into the machine's cache once, beside the HunyuanVideo ones)."""
    place_families(hunyuan_smoke_models.cache_dir, IMAGE_FAMILIES, hunyuan_smoke_models.models_dir)
    return hunyuan_smoke_models.models_dir


def write_set(cases: list[dict[str, Any]], out: Path) -> Path:
    out.mkdir(parents=True)
    set_path = out / "set.jsonl"
    set_path.write_text("".join(json.dumps(c) + "\n" for c in cases))
    return set_path


async def run_set(cases: list[dict[str, Any]], url: str, out: Path) -> Any:
    return await run_eval(write_set(cases, out), comfyui_url=url, out_dir=out / "out", concurrency=2)


async def test_image_and_video_families_run_on_smoke_weights_and_count_in_executed_rate(
    all_smoke_models: Path, comfyui: Any, tmp_path: Path
) -> None:
    started = time.monotonic()
    # One run in one ComfyUI process, image families first: the video's omitted stub weights are exact zeros
    # however much of the image models' memory was freed before (it once got their stale bytes: NaN frames).
    report = await run_set(CASES[1:] + CASES[:1], comfyui.url, tmp_path / "all")
    seconds = time.monotonic() - started
    results = report.cases
    by_id = {r.id: r for r in results}
    assert set(by_id) == {c["id"] for c in CASES}
    for r in results:
        assert r.needs_weights and r.live_passed, (r.id, r.live_problems)
        # every model file of the graph is a smoke-weight file: nothing real ran
        for folder, names in r.model_files.items():
            assert all(is_smoke_weights(all_smoke_models / folder / n) for n in names), (r.id, folder)
        assert r.smoke_run and r.executed, (r.id, r.execution_error)
        assert r.outputs >= 1
        assert all(c.ok for c in r.checks), (r.id, r.checks)  # scored on the graph as generated
    assert by_id["upscale-model"].model_files == {"upscale_models": ["RealESRGAN_x4plus.pth"]}
    assert by_id["sdxl-t2i"].model_files == {"checkpoints": ["sd_xl_base_1.0.safetensors"]}
    assert (report.metrics.executed_cases, report.metrics.executed_rate) == (len(CASES), 1.0)
    md = (tmp_path / "all" / "out" / "report.md").read_text()
    assert f"**pass_rate 100.0%, executed_rate 100.0% ({len(CASES)} graphs run)**" in md
    log.info(
        "%d cases (sd15, sdxl, esrgan, hunyuan_video) run on smoke weights in %.1f s", len(CASES), seconds
    )


# The shipped compose cases of the operations the cases above do not reach, run as the evals run them.
OPERATION_CASES = ("inpaint-001", "outpaint-002", "restyle-002", "video-001", "video-011")
COMPOSE_SET = Path(__file__).resolve().parents[3] / "evals" / "sets" / "compose.jsonl"


@pytest.mark.slow
async def test_inpaint_outpaint_restyle_v2v_and_join_run_on_smoke_weights(
    all_smoke_models: Path, comfyui: Any, tmp_path: Path
) -> None:
    """compose.jsonl's inpaint, outpaint, img2img restyle, video-to-video restyle and two-clip join, as
    generated, executed and frame-checked (a join saves both clips' frames)."""
    lines = COMPOSE_SET.read_text().splitlines()
    cases = [c for c in map(json.loads, lines) if c["id"] in OPERATION_CASES]
    started = time.monotonic()
    report = await run_set(cases, comfyui.url, tmp_path / "ops")
    assert {r.id for r in report.cases} == set(OPERATION_CASES)
    for r in report.cases:
        assert r.live_passed, (r.id, r.live_problems)
        assert r.smoke_run and r.executed, (r.id, r.execution_error)
    log.info("%d operation cases run on smoke weights in %.1f s", len(cases), time.monotonic() - started)
