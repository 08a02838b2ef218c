"""The Canny node runs in the local ComfyUI (kornia comes with ComfyUI's requirements, checked by the
installer): a composed SD1.5 canny ControlNet graph from a photo (not an edge map, so the composer puts Canny
in front of the ControlNet) runs shrunk on smoke weights and saves a decodable frame."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from smoke_helpers import generate_and_run_shrunk, live_backend, loaded_files
from test_smoke_more_families import SD15_CANNY

from comfyui_client import ComfyClient
from node_catalog import Catalog
from pipeline import GenerationRequest
from tests.support import solid_png

pytestmark = pytest.mark.integration

PHOTO = "smoke_shape_in.png"


@pytest.fixture()
async def live(
    more_smoke_models: dict[str, Path], comfyui: Any
) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    async with live_backend(comfyui, solid_png(64, 64, (30, 160, 90)), PHOTO) as backend:
        yield backend


async def test_a_canny_controlnet_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    client, catalog = live
    assert "Canny" in catalog  # comfy_extras/nodes_canny.py imported (it needs kornia)
    request = GenerationRequest(
        prompt=f"a robot following the edges of {PHOTO}", overrides={"input_image": PHOTO}
    )
    workflow = await generate_and_run_shrunk(
        client, catalog, comfyui, request, "sd15 canny controlnet behind a Canny node"
    )
    assert "Canny" in {n["class_type"] for n in workflow.values()}
    assert loaded_files(workflow, "ControlNetLoader", "control_net_name") == [SD15_CANNY]
