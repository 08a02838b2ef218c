"""The generator's SDXL canny ControlNet graph runs for real on smoke weights in the one session ComfyUI,
shrunk exactly as the eval runner shrinks it: the image decodes, and ComfyUI's log has no "warning control
could not be applied" (openaimodel.apply_control only logs a residual of the wrong shape and goes on, so a
run that "succeeds" with it proves nothing).

Timing and peak memory are logged (run with `-o log_cli=true -o log_cli_level=INFO`), never asserted.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from smoke_helpers import comfy_peak_mib, generate_and_run_shrunk, live_backend, loaded_files, place_families
from test_smoke_lora_runs import log_since

from comfyui_client import ComfyClient
from node_catalog import Catalog
from pipeline import GenerationRequest
from tests.support import solid_png

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

PHOTO = "smoke_sdxl_photo_in.png"
SDXL_CANNY = "controlnet-canny-sdxl-1.0.safetensors"


@pytest.fixture()
async def live(
    image_smoke_models: dict[str, Path], image_smoke_weights_cache: Any, comfyui: Any
) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    cache_dir = image_smoke_weights_cache.paths[0].parents[1]
    place_families(cache_dir, ["sdxl_controlnet"], comfyui.models_dir)
    async with live_backend(comfyui, solid_png(64, 64, (200, 40, 40)), PHOTO) as backend:
        yield backend


@pytest.mark.slow  # the SDXL text encoders (CLIP-L + CLIP-G) encode the prompt in ~30-60 s on 2 cores
async def test_sdxl_canny_controlnet_graph_runs_and_its_residuals_fit(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    client, catalog = live
    mark = Path(comfyui.log_path).stat().st_size  # noqa: ASYNC240 (a stat, between runs)
    request = GenerationRequest(prompt=f"an SDXL image of a robot, canny edges from {PHOTO}")
    workflow = await generate_and_run_shrunk(
        client, catalog, comfyui, request, "sdxl canny controlnet", wait=600
    )
    assert loaded_files(workflow, "CheckpointLoaderSimple", "ckpt_name") == ["sd_xl_base_1.0.safetensors"]
    assert loaded_files(workflow, "ControlNetLoader", "control_net_name") == [SDXL_CANNY]
    assert {"Canny", "ControlNetApplyAdvanced"} <= {n["class_type"] for n in workflow.values()}
    written = log_since(Path(comfyui.log_path), mark)
    assert "could not be applied" not in written, written
    log.info("sdxl canny controlnet: ComfyUI peak RSS %.0f MiB", comfy_peak_mib(comfyui))
