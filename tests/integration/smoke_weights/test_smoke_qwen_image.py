"""The generator's Qwen-Image text-to-image graph runs for real on the qwen_image smoke weights in the one
session ComfyUI, shrunk exactly as the eval runner shrinks it, and saves a decodable frame.

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

QWEN_DIT = "qwen_image_fp8_e4m3fn.safetensors"
QWEN_EDIT_DIT = "qwen_image_edit_2509_fp8_e4m3fn.safetensors"
PHOTO = "smoke_street_in.png"


@pytest.fixture()
def qwen_smoke_models(image_smoke_weights_cache: Any, comfyui: Any) -> dict[str, Path]:
    """The qwen_image files in the session ComfyUI's models folder (written into the machine's cache once);
    role -> path."""
    cache_dir = image_smoke_weights_cache.paths[0].parents[1]
    return place_families(cache_dir, ["qwen_image"], comfyui.models_dir)


@pytest.fixture()
async def live(
    qwen_smoke_models: dict[str, Path], comfyui: Any
) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    async with live_backend(comfyui, solid_png(64, 64, (40, 120, 200)), PHOTO) as backend:
        yield backend


@pytest.mark.slow  # 16 s on 2 cores (the Qwen2.5-VL stub's zero Linears skip their products; was 50-85 s)
async def test_qwen_image_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    client, catalog = live
    request = GenerationRequest(prompt="a poster with the text 'GRAND OPENING' in bold letters")
    workflow = await generate_and_run_shrunk(
        client, catalog, comfyui, request, "qwen_image text-to-image", wait=1200
    )
    assert loaded_files(workflow, "UNETLoader", "unet_name") == [QWEN_DIT]


# The shrunk copy scales the input to 0.01 MP (ImageScaleToTotalPixels' minimum), so the sampled latent is
# 96x96: 4.8 GB ComfyUI peak RSS instead of 8.3 GB and about a quarter less time (evals/README.md: 982 s vs
# 1291 s at load 7-9); with the zero-Linear skip, about 215 s at load 4. What is left is fixed by the node:
# TextEncodeQwenImageEditPlus always sends a 384x384 copy through the vision tower and encodes a 1-megapixel
# reference latent, in each of the two encode nodes.
@pytest.mark.slow
@pytest.mark.timeout(1200)
async def test_qwen_image_edit_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    client, catalog = live
    request = GenerationRequest(prompt=f"erase the lamp post from {PHOTO}", overrides={"input_image": PHOTO})
    workflow = await generate_and_run_shrunk(client, catalog, comfyui, request, "qwen_image edit", wait=1200)
    assert loaded_files(workflow, "UNETLoader", "unet_name") == [QWEN_EDIT_DIT]
