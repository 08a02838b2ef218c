"""The generator's Qwen-Image canny ControlNet graph (Canny, ModelPatchLoader, QwenImageDiffsynthControlnet;
issue 14) runs for real on the qwen_image and qwen_image_controlnet smoke weights in the one session ComfyUI,
shrunk exactly as the eval runner shrinks it: the image decodes and passes the frame check, the patch loads
through ModelPatchLoader's strict load (60 fixed blocks, what the stub omits zero-filled) and is applied to
the DiT's hidden states without a warning.

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

PHOTO = "smoke_castle_sketch_in.png"
QWEN_DIT = "qwen_image_fp8_e4m3fn.safetensors"
CANNY_PATCH = "qwen_image_canny_diffsynth_controlnet.safetensors"


@pytest.fixture()
async def live(image_smoke_weights_cache: Any, comfyui: Any) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    cache_dir = image_smoke_weights_cache.paths[0].parents[1]
    place_families(cache_dir, ["qwen_image", "qwen_image_controlnet"], comfyui.models_dir)
    async with live_backend(comfyui, solid_png(64, 64, (90, 90, 90)), PHOTO) as backend:
        yield backend


@pytest.mark.slow  # the Qwen2.5-VL 7B stub (zeros) encodes both prompts on 2 cores
@pytest.mark.timeout(1200)
async def test_qwen_canny_controlnet_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    client, catalog = live
    mark = Path(comfyui.log_path).stat().st_size  # noqa: ASYNC240 (a stat, between runs)
    # "from this sketch" makes the planner choose the SD1.5 scribble ControlNet: a photo gives canny edges
    request = GenerationRequest(
        prompt="a qwen image canny controlnet from this photo: a castle", overrides={"input_image": PHOTO}
    )
    workflow = await generate_and_run_shrunk(
        client, catalog, comfyui, request, "qwen_image canny controlnet", wait=1200
    )
    assert loaded_files(workflow, "UNETLoader", "unet_name") == [QWEN_DIT]
    assert loaded_files(workflow, "ModelPatchLoader", "name") == [CANNY_PATCH]
    assert {"Canny", "QwenImageDiffsynthControlnet"} <= {n["class_type"] for n in workflow.values()}
    written = log_since(Path(comfyui.log_path), mark)
    assert "could not be applied" not in written and "something went wrong" not in written, written
    assert "Traceback" not in written, written
    # loaded strictly with the stub's omissions zero-filled, and loaded again for sampling: the patch is on
    # the model KSampler ran (its blocks add to the DiT's hidden states; a width mismatch would have raised)
    assert "QwenImageBlockWiseControlNet absent from the file set to zero" in written, written
    assert "Requested to load QwenImageBlockWiseControlNet" in written, written
    log.info("qwen_image canny controlnet: ComfyUI peak RSS %.0f MiB", comfy_peak_mib(comfyui))
