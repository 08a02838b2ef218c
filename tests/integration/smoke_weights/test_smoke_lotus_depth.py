"""The generator's Lotus depth graph (the compose set's "using the depth of" cases: Lotus turns the photo
into a depth map that drives an SD1.5 depth ControlNet) runs for real on smoke weights in the one session
ComfyUI, shrunk exactly as the eval runner shrinks it, and saves a decodable frame.

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
from test_smoke_more_families import loaded_files

from comfyui_client import ComfyClient
from comfyui_local.smoke_weights import check_frames, decode_rgb_frames, is_smoke_weights
from evals.smoke import downscaled
from node_catalog import Catalog
from node_catalog.files import required_files
from pipeline import GenerationRequest, Generator
from tests.support import solid_png

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

LOTUS = "lotus-depth-d-v1-1.safetensors"
SD15_DEPTH = "control_v11f1p_sd15_depth_fp16.safetensors"
PHOTO = "smoke_scene_in.png"


@pytest.fixture()
def lotus_smoke_models(
    more_smoke_models: dict[str, Path], image_smoke_weights_cache: Any, comfyui: Any
) -> dict[str, Path]:
    """SD1.5, its ControlNets and the Lotus UNet in the session ComfyUI's models folder (the Lotus file
    written into the machine's cache once); role -> path."""
    from comfyui_local import install
    from comfyui_local.smoke_families import build_families, family_files
    from comfyui_local.smoke_weights import install_smoke_weights
    from tests.smoke_support import SMOKE_KIND, SMOKE_SEED

    cache_dir = image_smoke_weights_cache.paths[0].parents[1]
    report = build_families(cache_dir, ["lotus_depth"], inst=install(), kind=SMOKE_KIND, seed=SMOKE_SEED)
    placed = install_smoke_weights(report.paths, cache_dir, comfyui.models_dir)
    lotus = {f.role: p for f, p in zip(family_files(["lotus_depth"]), placed, strict=True)}
    return {**more_smoke_models, **lotus}


@pytest.fixture()
async def live(
    lotus_smoke_models: dict[str, Path], comfyui: Any
) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    async with ComfyClient(comfyui.url, timeout=30) as client:
        await client.upload(solid_png(64, 64, (90, 140, 60)), PHOTO, overwrite=True)
        yield client, await Catalog.live(client)


async def test_lotus_depth_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    client, catalog = live
    request = GenerationRequest(
        prompt=f"a medieval castle using the depth of {PHOTO}", overrides={"input_image": PHOTO}
    )
    result = await Generator(catalog, client=client).generate(request)
    assert result.error is None and result.status == "valid", (result.status, result.error, result.errors)
    workflow = result.workflow or {}
    nodes = {n["class_type"] for n in workflow.values()}
    assert {"LotusConditioning", "ControlNetApplyAdvanced"} <= nodes, nodes
    assert loaded_files(workflow, "UNETLoader", "unet_name") == [LOTUS]
    assert loaded_files(workflow, "ControlNetLoader", "control_net_name") == [SD15_DEPTH]
    for folder, names in required_files(workflow, catalog).items():
        if folder != "input":
            assert all(is_smoke_weights(Path(comfyui.models_dir) / folder / n) for n in names), folder
    small = downscaled(workflow)
    started = time.monotonic()
    submitted = await client.submit(small.workflow)
    entry = await client.wait_for(submitted.prompt_id, timeout=600)
    (image, *_) = [f for f in entry.files if f.kind == "image"]
    async with client.view(image.filename, subfolder=image.subfolder, type=image.type) as resp:
        check = check_frames(
            decode_rgb_frames(await resp.aread()), expect_frames=1, expect_size=small.expect_size
        )
    assert check.ok, check.reason
    log.info(
        "lotus depth + sd15 depth controlnet (composed, shrunk to %s): ran in %.1f s, "
        "ComfyUI peak RSS %.0f MiB",
        small.expect_size,
        time.monotonic() - started,
        peak_rss_kib(comfyui.proc.pid) / 1024 if comfyui.proc is not None else 0.0,
    )
