"""The generator's SD 2.1 unCLIP image-variation graph (unCLIPCheckpointLoader's image tower encoding the
reference photo, unCLIPConditioning) runs for real on the sd21_unclip smoke checkpoint in the one session
ComfyUI, shrunk exactly as the eval runner shrinks it: the image decodes and passes the frame check. The
checkpoint is a pickle (torch zip) whose marker record makes the local ComfyUI zero-fill the OpenCLIP-H
towers it omits.

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

PHOTO = "smoke_variation_photo_in.png"
UNCLIP_CKPT = "sd21-unclip-h.ckpt"


@pytest.fixture()
async def live(image_smoke_weights_cache: Any, comfyui: Any) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    cache_dir = image_smoke_weights_cache.paths[0].parents[1]
    place_families(cache_dir, ["sd21_unclip"], comfyui.models_dir)
    async with live_backend(comfyui, solid_png(64, 64, (180, 140, 60)), PHOTO) as backend:
        yield backend


@pytest.mark.slow  # the OpenCLIP-H text and ViT-H image towers (zeros) on 2 cores
@pytest.mark.timeout(900)
async def test_sd21_unclip_variation_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    client, catalog = live
    mark = Path(comfyui.log_path).stat().st_size  # noqa: ASYNC240 (a stat, between runs)
    # The backend listing is pinned to the unCLIP checkpoint: a session whose earlier tests placed the Flux
    # Redux or SD1.5 style files is still asked for the unCLIP graph (the planner's first choice anyway).
    request = GenerationRequest(
        prompt=f"make 2 variations of {PHOTO}",
        overrides={"input_image": PHOTO},
        models={"checkpoints": [UNCLIP_CKPT]},
    )
    workflow = await generate_and_run_shrunk(
        client, catalog, comfyui, request, "sd21 unclip variations", wait=900
    )
    assert loaded_files(workflow, "unCLIPCheckpointLoader", "ckpt_name") == [UNCLIP_CKPT]
    assert {"CLIPVisionEncode", "unCLIPConditioning"} <= {n["class_type"] for n in workflow.values()}
    written = log_since(Path(comfyui.log_path), mark)
    assert "Traceback" not in written, written
    # the pickle was read as a smoke file: its omitted text and image towers are zeros, not stale memory
    assert "parameters of SD2ClipModel absent from the file set to zero" in written, written
    assert "parameters of CLIPVisionModelProjection absent from the file set to zero" in written, written
    log.info("sd21 unclip variations: ComfyUI peak RSS %.0f MiB", comfy_peak_mib(comfyui))
