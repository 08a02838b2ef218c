"""The generator's style-reference graphs run for real on smoke weights in the one session ComfyUI, shrunk as
the eval runner shrinks them, and save a frame that passes the frame check: Flux Redux (SigLIP 384 image
tokens through flux1-redux-dev, appended to Flux dev's T5 conditioning; the compose set's "in the style of"
cases) and the SD1.5 style adapter (CLIP ViT-L through coadapter-style-sd15v1, eight tokens appended to
SD1.5's CLIP-L conditioning).

Timing and peak memory are logged (run with `-o log_cli=true -o log_cli_level=INFO`), never asserted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from smoke_helpers import generate_and_run_shrunk, live_backend, loaded_files, place_families

from comfyui_client import ComfyClient
from node_catalog import Catalog
from pipeline import GenerationRequest
from tests.support import solid_png

pytestmark = pytest.mark.integration

REF = "smoke_style_ref.png"
STYLE_FAMILIES = ("flux", "flux_redux", "sd15_style")


@pytest.fixture()
def style_smoke_models(
    image_smoke_models: dict[str, Path], image_smoke_weights_cache: Any, comfyui: Any
) -> dict[str, Path]:
    """The image families plus Flux and both style-reference families in the session ComfyUI's models folder
    (the new files written into the machine's cache once); role -> path."""
    cache_dir = image_smoke_weights_cache.paths[0].parents[1]
    return {**image_smoke_models, **place_families(cache_dir, STYLE_FAMILIES, comfyui.models_dir)}


@pytest.fixture()
async def live(
    style_smoke_models: dict[str, Path], comfyui: Any
) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    async with live_backend(comfyui, solid_png(64, 64, (180, 120, 40)), REF) as backend:
        yield backend


@pytest.mark.parametrize(
    ("prompt", "loads"),
    [
        # 240-280 s, 1.8 GB ComfyUI peak RSS at load average 9-10: the T5-XXL stub (4.7B parameters, zeros)
        # encodes the prompt on 2 cores, then SigLIP's 27 layers see 729 patches of the 384x384 reference
        # (CLIPVisionEncode's fixed size: shrinking does not reach it); the DiT attends over 729 more tokens.
        pytest.param(
            "paint a harbour in the style of",
            [
                ("UNETLoader", "unet_name", "flux1-dev.safetensors"),
                ("StyleModelLoader", "style_model_name", "flux1-redux-dev.safetensors"),
                ("CLIPVisionLoader", "clip_name", "sigclip_vision_patch14_384.safetensors"),
            ],
            id="flux_redux",
            marks=[pytest.mark.slow, pytest.mark.timeout(900)],
        ),
        # 45 s at load average 9 (SD1.5's CLIP-L and the ViT-L stub's 24 layers)
        pytest.param(
            "an SD1.5 picture of a harbour in the style of",
            [
                ("CheckpointLoaderSimple", "ckpt_name", "v1-5-pruned-emaonly.safetensors"),
                ("StyleModelLoader", "style_model_name", "coadapter-style-sd15v1.pth"),
                ("CLIPVisionLoader", "clip_name", "clip_vision_vit_l.safetensors"),
            ],
            id="sd15_style",
            marks=pytest.mark.slow,
        ),
    ],
)
async def test_style_reference_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any, prompt: str, loads: list[tuple[str, str, str]]
) -> None:
    client, catalog = live
    request = GenerationRequest(prompt=f"{prompt} {REF}", overrides={"input_image": REF})
    workflow = await generate_and_run_shrunk(client, catalog, comfyui, request, prompt, wait=800)
    for class_type, input_name, filename in loads:
        assert loaded_files(workflow, class_type, input_name) == [filename], class_type
