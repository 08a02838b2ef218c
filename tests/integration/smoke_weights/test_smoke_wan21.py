"""The generator's Wan 2.1 text-to-video, image-to-video and VACE graphs run for real on the wan21 smoke
weights in the one session ComfyUI, shrunk exactly as the eval runner shrinks them, and save videos whose
frames decode clean. Each costs 8-10 min on a loaded 2-core machine, nearly all of it UMT5-XXL (fp32, every
prompt padded to 512 tokens; evals/README.md), less when the session already encoded the negative prompt.

The UMT5-XXL stub carries a SentencePiece tokenizer trained at write time (`_smoke_wan_models.py`); ComfyUI
reads it from the file as it reads the real one. Timing and peak memory are logged (run with
`-o log_cli=true -o log_cli_level=INFO`), never asserted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from smoke_helpers import generate_and_run_shrunk, live_backend, loaded_files, place_families

from comfyui_client import ComfyClient
from evals.inputs import video_bytes
from evals.smoke import SIZE
from node_catalog import Catalog
from pipeline import GenerationRequest
from tests.support import solid_png

pytestmark = pytest.mark.integration

WAN_T2V_DIT = "wan2.1_t2v_1.3B_fp16.safetensors"
WAN_I2V_DIT = "wan2.1_i2v_480p_14B_fp8_scaled.safetensors"
WAN_VACE_DIT = "wan2.1_vace_14B_fp16.safetensors"
PHOTO = "smoke_wan_in.png"
CLIP = "smoke_wan_in.mp4"


@pytest.fixture()
def wan_smoke_models(image_smoke_weights_cache: Any, comfyui: Any) -> dict[str, Path]:
    """The wan21 files in the session ComfyUI's models folder (written into the machine's cache once);
    role -> path."""
    cache_dir = image_smoke_weights_cache.paths[0].parents[1]
    return place_families(cache_dir, ["wan21"], comfyui.models_dir)


@pytest.fixture()
async def live(wan_smoke_models: dict[str, Path], comfyui: Any) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    async with live_backend(comfyui, solid_png(64, 64, (40, 120, 200)), PHOTO) as backend:
        yield backend


# A lone "wan 2.1 video" request takes the HunyuanVideo template (no template is Wan's); a chain is composed
# from the wan21 fragments. The upscale step (ImageScaleBy 2x, no model) doubles the shrunk frames.
@pytest.mark.slow
@pytest.mark.timeout(1200)
async def test_wan21_t2v_graph_runs_on_smoke_weights(live: tuple[ComfyClient, Catalog], comfyui: Any) -> None:
    client, catalog = live
    request = GenerationRequest(prompt="a 2 second wan 2.1 video of a fox running, then upscale it 2x")
    workflow = await generate_and_run_shrunk(
        client, catalog, comfyui, request, "wan21 text-to-video", wait=1200, expect_size=(2 * SIZE, 2 * SIZE)
    )
    assert loaded_files(workflow, "UNETLoader", "unet_name") == [WAN_T2V_DIT]
    assert loaded_files(workflow, "CLIPLoader", "clip_name") == ["umt5_xxl_fp8_e4m3fn_scaled.safetensors"]


# Image-to-video: CLIP ViT-H (a stub) encodes the picture, WanImageToVideo the start latent, the 36-channel
# DiT samples; the composer's fragment names no motion text, so the positive prompt is empty.
@pytest.mark.slow
@pytest.mark.timeout(1200)
async def test_wan21_i2v_graph_runs_on_smoke_weights(live: tuple[ComfyClient, Catalog], comfyui: Any) -> None:
    client, catalog = live
    request = GenerationRequest(
        prompt=f"animate {PHOTO} with wan, 2 seconds, then upscale it 2x", overrides={"input_image": PHOTO}
    )
    workflow = await generate_and_run_shrunk(
        client, catalog, comfyui, request, "wan21 image-to-video", wait=1200, expect_size=(2 * SIZE, 2 * SIZE)
    )
    assert loaded_files(workflow, "UNETLoader", "unet_name") == [WAN_I2V_DIT]
    assert loaded_files(workflow, "CLIPVisionLoader", "clip_name") == ["clip_vision_h.safetensors"]


# VACE video-to-video: the clip's Canny edges steer the 16-channel DiT through its VACE block.
@pytest.mark.slow
@pytest.mark.timeout(1200)
async def test_wan21_vace_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    client, _ = live
    await client.upload(video_bytes(CLIP), CLIP, overwrite=True)
    catalog = await Catalog.live(client)  # LoadVideo's choices are the input files listed when it is read
    request = GenerationRequest(prompt=f"restyle {CLIP} as claymation with wan vace, then upscale it 2x")
    workflow = await generate_and_run_shrunk(
        client, catalog, comfyui, request, "wan21 VACE", wait=1200, expect_size=(2 * SIZE, 2 * SIZE)
    )
    assert loaded_files(workflow, "UNETLoader", "unet_name") == [WAN_VACE_DIT]
