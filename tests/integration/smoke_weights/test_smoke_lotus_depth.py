"""The generator's Lotus depth graph (the compose set's "using the depth of" cases: Lotus turns the photo
into a depth map that drives an SD1.5 depth ControlNet) runs for real on smoke weights in the one session
ComfyUI, shrunk exactly as the eval runner shrinks it, and saves a decodable frame.

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

LOTUS = "lotus-depth-d-v1-1.safetensors"
SD15_DEPTH = "control_v11f1p_sd15_depth_fp16.safetensors"
PHOTO = "smoke_scene_in.png"


@pytest.fixture()
def lotus_smoke_models(
    more_smoke_models: dict[str, Path], image_smoke_weights_cache: Any, comfyui: Any
) -> dict[str, Path]:
    """SD1.5, its ControlNets and the Lotus UNet in the session ComfyUI's models folder (the Lotus file
    written into the machine's cache once); role -> path."""
    cache_dir = image_smoke_weights_cache.paths[0].parents[1]
    return {**more_smoke_models, **place_families(cache_dir, ["lotus_depth"], comfyui.models_dir)}


@pytest.fixture()
async def live(
    lotus_smoke_models: dict[str, Path], comfyui: Any
) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    async with live_backend(comfyui, solid_png(64, 64, (90, 140, 60)), PHOTO) as backend:
        yield backend


async def test_lotus_depth_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    client, catalog = live
    request = GenerationRequest(
        prompt=f"a medieval castle using the depth of {PHOTO}", overrides={"input_image": PHOTO}
    )
    workflow = await generate_and_run_shrunk(
        client, catalog, comfyui, request, "lotus depth + sd15 depth controlnet", wait=600
    )
    nodes = {n["class_type"] for n in workflow.values()}
    assert {"LotusConditioning", "ControlNetApplyAdvanced"} <= nodes, nodes
    assert loaded_files(workflow, "UNETLoader", "unet_name") == [LOTUS]
    assert loaded_files(workflow, "ControlNetLoader", "control_net_name") == [SD15_DEPTH]
