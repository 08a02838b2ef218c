"""The generator's Flux and ControlNet graphs run for real on smoke weights in the one session ComfyUI (after
whatever ran there before), and a graph that validates but cannot run (an SD1.5 ControlNet on an SDXL
checkpoint, which the generator writes for a backend holding only those two) fails at execution with
ComfyUI's real error, which the execution-error repair then meets.

Timing and peak memory are logged (run with `-o log_cli=true -o log_cli_level=INFO`), never asserted.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from smoke_helpers import comfy_peak_mib, generate_and_run_shrunk, live_backend, loaded_files
from test_smoke_images import decoded_image, generate_and_run

from comfyui_client import ComfyClient
from comfyui_local.smoke_weights import is_smoke_weights
from node_catalog import Catalog
from pipeline import GenerationRequest, Generator
from tests.support import solid_png

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

SIZE = 64
HINT = "smoke_edges_in.png"
SD15_CANNY = "control_v11p_sd15_canny_fp16.safetensors"


@pytest.fixture()
async def live(
    more_smoke_models: dict[str, Path], comfyui: Any
) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    async with live_backend(comfyui, solid_png(64, 64, (200, 40, 40)), HINT) as backend:
        yield backend


async def test_composed_controlnet_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    """The composer's graph (it keeps its own 512x512 and 20 steps whatever the overrides say) runs shrunk
    exactly as the eval runner shrinks it."""
    client, catalog = live
    request = GenerationRequest(
        prompt=f"a robot following the edges of {HINT}", overrides={"input_image": HINT}
    )
    workflow = await generate_and_run_shrunk(client, catalog, comfyui, request, "sd15 canny controlnet")
    assert loaded_files(workflow, "ControlNetLoader", "control_net_name") == [SD15_CANNY]
    # (no Canny node: the local ComfyUI lacks kornia, so the live catalog has none and the hint goes in as is)
    assert "ControlNetApplyAdvanced" in {n["class_type"] for n in workflow.values()}


@pytest.mark.slow  # the T5-XXL stub (4.7B parameters of zeros) encodes the prompt on 2 cores
async def test_flux_graph_runs_on_smoke_weights(live: tuple[ComfyClient, Catalog], comfyui: Any) -> None:
    client, catalog = live
    request = GenerationRequest(
        prompt="a Flux image of a lighthouse on a cliff",
        submit=True,
        wait=True,
        timeout=600,
        template="flux_t2i",
        overrides={"resolution": f"{SIZE}x{SIZE}", "steps": 2, "seed": 3},
    )
    result, _ = await generate_and_run(client, catalog, request, comfyui, "flux text-to-image")
    assert loaded_files(result.workflow or {}, "UNETLoader", "unet_name") == ["flux1-dev.safetensors"]
    await decoded_image(client, result, (SIZE, SIZE))


@pytest.mark.slow  # the SDXL text encoders (~30 s) run before the sampler fails
async def test_sd15_controlnet_on_sdxl_validates_fails_at_execution_and_meets_the_repair(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    client, catalog = live
    request = GenerationRequest(
        prompt=f"an SDXL picture of a robot following the edges of {HINT}",
        submit=True,
        wait=True,
        timeout=300,
        max_repairs=1,
        models={"checkpoints": ["sd_xl_base_1.0.safetensors"], "controlnet": [SD15_CANNY]},
        overrides={"input_image": HINT, "resolution": f"{SIZE}x{SIZE}", "steps": 1, "seed": 5},
    )
    result = await Generator(catalog, client=client).generate(request)
    workflow = result.workflow or {}
    assert loaded_files(workflow, "CheckpointLoaderSimple", "ckpt_name") == ["sd_xl_base_1.0.safetensors"]
    assert loaded_files(workflow, "ControlNetLoader", "control_net_name") == [SD15_CANNY]
    for name in (SD15_CANNY,):
        assert is_smoke_weights(Path(comfyui.models_dir) / "controlnet" / name)
    # ComfyUI accepted it (the validator has nothing against it); only the run shows the mismatch
    assert result.status != "succeeded", result.status
    text = " ".join([str(result.error), *map(str, result.errors), *map(str, result.repairs)])
    assert "execute" in text and "KSampler" in text, text
    log.info(
        "sd15 controlnet on sdxl: %s; repairs %s; ComfyUI peak RSS %.0f MiB",
        str(result.error)[:300],
        [str(r)[:200] for r in result.repairs],
        comfy_peak_mib(comfyui),
    )
