"""The Canny node runs in the local ComfyUI (kornia comes with ComfyUI's requirements, checked by the
installer): a composed SD1.5 canny ControlNet graph from a photo (not an edge map, so the composer puts Canny
in front of the ControlNet) runs shrunk on smoke weights and saves a decodable frame."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from smoke_helpers import peak_rss_kib
from test_smoke_more_families import SD15_CANNY, loaded_files

from comfyui_client import ComfyClient
from comfyui_local.smoke_weights import check_frames, decode_rgb_frames
from evals.smoke import downscaled
from node_catalog import Catalog
from pipeline import GenerationRequest, Generator
from tests.support import solid_png

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

PHOTO = "smoke_shape_in.png"


@pytest.fixture()
async def live(
    more_smoke_models: dict[str, Path], comfyui: Any
) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    async with ComfyClient(comfyui.url, timeout=30) as client:
        await client.upload(solid_png(64, 64, (30, 160, 90)), PHOTO, overwrite=True)
        yield client, await Catalog.live(client)


async def test_a_canny_controlnet_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    client, catalog = live
    assert "Canny" in catalog  # comfy_extras/nodes_canny.py imported (it needs kornia)
    request = GenerationRequest(
        prompt=f"a robot following the edges of {PHOTO}", overrides={"input_image": PHOTO}
    )
    result = await Generator(catalog, client=client).generate(request)
    assert result.error is None and result.status == "valid", (result.status, result.error, result.errors)
    workflow = result.workflow or {}
    assert "Canny" in {n["class_type"] for n in workflow.values()}
    assert loaded_files(workflow, "ControlNetLoader", "control_net_name") == [SD15_CANNY]
    small = downscaled(workflow)
    started = time.monotonic()
    submitted = await client.submit(small.workflow)
    entry = await client.wait_for(submitted.prompt_id, timeout=300)
    (image, *_) = [f for f in entry.files if f.kind == "image"]
    async with client.view(image.filename, subfolder=image.subfolder, type=image.type) as resp:
        check = check_frames(
            decode_rgb_frames(await resp.aread()), expect_frames=1, expect_size=small.expect_size
        )
    assert check.ok, check.reason
    log.info(
        "sd15 canny controlnet behind a Canny node (composed, shrunk): ran in %.1f s, "
        "ComfyUI peak RSS %.0f MiB",
        time.monotonic() - started,
        peak_rss_kib(comfyui.proc.pid) / 1024 if comfyui.proc is not None else 0.0,
    )
