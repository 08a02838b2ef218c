"""The generator's Qwen-Image text-to-image graph runs for real on the qwen_image smoke weights in the one
session ComfyUI, shrunk exactly as the eval runner shrinks it, and saves a decodable frame.

Timing and peak memory are logged (run with `-o log_cli=true -o log_cli_level=INFO`), never asserted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from smoke_helpers import peak_rss_kib

from comfyui_client import ComfyClient
from comfyui_local.smoke_weights import check_frames, decode_rgb_frames, is_smoke_weights
from evals.smoke import downscaled
from node_catalog import Catalog
from node_catalog.files import required_files
from pipeline import GenerationRequest, Generator
from tests.support import solid_png

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

QWEN_DIT = "qwen_image_fp8_e4m3fn.safetensors"
QWEN_EDIT_DIT = "qwen_image_edit_2509_fp8_e4m3fn.safetensors"
PHOTO = "smoke_street_in.png"


@pytest.fixture()
def qwen_smoke_models(image_smoke_weights_cache: Any, comfyui: Any) -> dict[str, Path]:
    """The qwen_image files in the session ComfyUI's models folder (written into the machine's cache once);
    role -> path."""
    from comfyui_local import install
    from comfyui_local.smoke_families import build_families, family_files
    from comfyui_local.smoke_weights import install_smoke_weights
    from tests.smoke_support import SMOKE_KIND, SMOKE_SEED

    cache_dir = image_smoke_weights_cache.paths[0].parents[1]
    report = build_families(cache_dir, ["qwen_image"], inst=install(), kind=SMOKE_KIND, seed=SMOKE_SEED)
    placed = install_smoke_weights(report.paths, cache_dir, comfyui.models_dir)
    return {f.role: p for f, p in zip(family_files(["qwen_image"]), placed, strict=True)}


@pytest.fixture()
async def live(
    qwen_smoke_models: dict[str, Path], comfyui: Any
) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    async with ComfyClient(comfyui.url, timeout=30) as client:
        await client.upload(solid_png(64, 64, (40, 120, 200)), PHOTO, overwrite=True)
        yield client, await Catalog.live(client)


async def run_shrunk(
    client: ComfyClient, catalog: Catalog, comfyui: Any, request: GenerationRequest, unet: str, label: str
) -> None:
    """Generate, check every model file is smoke weights, run shrunk as the eval runner does, check frames."""
    result = await Generator(catalog, client=client).generate(request)
    assert result.error is None and result.status == "valid", (result.status, result.error, result.errors)
    workflow = result.workflow or {}
    unets = [n["inputs"]["unet_name"] for n in workflow.values() if n["class_type"] == "UNETLoader"]
    assert unets == [unet]
    for folder, names in required_files(workflow, catalog).items():
        if folder != "input":
            assert all(is_smoke_weights(Path(comfyui.models_dir) / folder / n) for n in names), folder
    small = downscaled(workflow)
    started = time.monotonic()
    submitted = await client.submit(small.workflow)
    entry = await client.wait_for(submitted.prompt_id, timeout=1200)
    (image, *_) = [f for f in entry.files if f.kind == "image"]
    async with client.view(image.filename, subfolder=image.subfolder, type=image.type) as resp:
        check = check_frames(
            decode_rgb_frames(await resp.aread()), expect_frames=1, expect_size=small.expect_size
        )
    assert check.ok, check.reason
    log.info(
        "%s (composed, shrunk to %s): ran in %.1f s, ComfyUI peak RSS %.0f MiB",
        label,
        small.expect_size,
        time.monotonic() - started,
        peak_rss_kib(comfyui.proc.pid) / 1024 if comfyui.proc is not None else 0.0,
    )


@pytest.mark.slow  # the Qwen2.5-VL 7B stub (zeros) encodes both prompts on 2 cores: 50-85 s
async def test_qwen_image_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    client, catalog = live
    request = GenerationRequest(prompt="a poster with the text 'GRAND OPENING' in bold letters")
    await run_shrunk(client, catalog, comfyui, request, QWEN_DIT, "qwen_image text-to-image")


# The shrunk copy scales the input to 0.01 MP (ImageScaleToTotalPixels' minimum), so the sampled latent is
# 96x96: 4.8 GB ComfyUI peak RSS instead of 8.3 GB and about a quarter less time (evals/README.md: 982 s vs
# 1291 s at load 7-9; ~410 s before on a quieter machine). What is left is fixed by the node:
# TextEncodeQwenImageEditPlus always sends a 384x384 copy through the vision tower and encodes a 1-megapixel
# reference latent, in each of the two encode nodes.
@pytest.mark.slow
@pytest.mark.timeout(1200)
async def test_qwen_image_edit_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    client, catalog = live
    request = GenerationRequest(prompt=f"erase the lamp post from {PHOTO}", overrides={"input_image": PHOTO})
    await run_shrunk(client, catalog, comfyui, request, QWEN_EDIT_DIT, "qwen_image edit")
