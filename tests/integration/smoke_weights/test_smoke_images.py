"""The generator's own image graphs (SD1.5 and SDXL text to image, a model upscale) run for real on the image
families' smoke weights, and the PNG they save decodes at the asked size and passes the frame check.

Timing and peak memory are logged (run with `-o log_cli=true -o log_cli_level=INFO`), never asserted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from smoke_helpers import assert_all_smoke, comfy_peak_mib, live_backend

from comfyui_client import ComfyClient, ExecutionFailed
from comfyui_local.smoke_weights import check_frames, decode_rgb_frames
from node_catalog import Catalog
from pipeline import GenerationRequest, GenerationResult, Generator
from tests.support import solid_png

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

SIZE = 64
INPUT_NAME = "smoke_upscale_in.png"


@pytest.fixture()
async def live(
    image_smoke_models: dict[str, Path], comfyui: Any
) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    async with live_backend(comfyui, solid_png(32, 32, (40, 120, 200)), INPUT_NAME) as backend:
        yield backend


async def generate_and_run(
    client: ComfyClient, catalog: Catalog, request: GenerationRequest, comfyui: Any, label: str
) -> tuple[GenerationResult, float]:
    started = time.monotonic()
    result = await Generator(catalog, client=client).generate(request)
    seconds = time.monotonic() - started
    assert result.error is None, (result.error, result.errors, result.repairs)
    assert result.status == "succeeded", result.status
    assert_all_smoke(result.workflow or {}, catalog, Path(comfyui.models_dir))
    log.info(
        "%s: generated and ran in %.1f s, ComfyUI peak RSS %.0f MiB", label, seconds, comfy_peak_mib(comfyui)
    )
    return result, seconds


async def decoded_image(client: ComfyClient, result: GenerationResult, size: tuple[int, int]) -> None:
    images = [f for f in result.outputs if f["kind"] == "image"]
    assert images, result.outputs
    first = images[0]
    assert first["filename"].endswith(".png")
    async with client.view(first["filename"], subfolder=first["subfolder"], type=first["type"]) as resp:
        data = await resp.aread()
    check = check_frames(decode_rgb_frames(data), expect_frames=1, expect_size=size)
    assert check.ok, check.reason


@pytest.mark.parametrize(
    ("family", "checkpoint"),
    [
        ("sd15", "v1-5-pruned-emaonly.safetensors"),
        # ~30 s: the fixed-size CLIP-G (694M parameters, a stub) encodes both prompts on 2 cores
        pytest.param("sdxl", "sd_xl_base_1.0.safetensors", marks=pytest.mark.slow),
    ],
)
async def test_text_to_image_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any, family: str, checkpoint: str
) -> None:
    client, catalog = live
    request = GenerationRequest(
        prompt="a lighthouse on a cliff at sunset",
        submit=True,
        wait=True,
        timeout=300,
        template=f"{family}_t2i",
        overrides={"resolution": f"{SIZE}x{SIZE}", "steps": 2, "seed": 3},
    )
    result, _ = await generate_and_run(client, catalog, request, comfyui, f"{family} text-to-image")
    loaders = [n for n in (result.workflow or {}).values() if n["class_type"] == "CheckpointLoaderSimple"]
    assert [n["inputs"]["ckpt_name"] for n in loaders] == [checkpoint]
    await decoded_image(client, result, (SIZE, SIZE))


async def test_upscale_model_graph_runs_on_smoke_weights(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    client, catalog = live
    request = GenerationRequest(
        prompt=f"upscale {INPUT_NAME} 4x with an upscale model",
        template="upscale_model",
        submit=True,
        wait=True,
        timeout=120,
    )
    result, _ = await generate_and_run(client, catalog, request, comfyui, "esrgan upscale")
    classes = {n["class_type"] for n in (result.workflow or {}).values()}
    assert {"UpscaleModelLoader", "ImageUpscaleWithModel"} <= classes
    await decoded_image(client, result, (128, 128))


@pytest.mark.slow  # the SDXL text encoders (~30 s) make the wrong conditioning
async def test_a_graph_that_validates_but_cannot_run_fails_at_execution(
    live: tuple[ComfyClient, Catalog], comfyui: Any
) -> None:
    """The SD1.5 graph prompted through SDXL's text encoders (2048-wide conditioning into a UNet built for
    768): every link is a valid CLIP/CONDITIONING, so ComfyUI accepts it; only running it shows the mismatch.
    Smoke weights turn that into ComfyUI's real execution error."""
    client, catalog = live
    result = await Generator(catalog, client=client).generate(
        GenerationRequest(
            prompt="a red boat", template="sd15_t2i", overrides={"resolution": "64x64", "steps": 1}
        )
    )
    graph = dict(result.workflow or {})
    graph["99"] = {
        "class_type": "CheckpointLoaderSimple",
        "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"},
    }
    for node in graph.values():
        if node["class_type"] == "CLIPTextEncode":
            node["inputs"]["clip"] = ["99", 1]
    submitted = await client.submit(graph)
    with pytest.raises(ExecutionFailed) as caught:
        await client.wait_for(submitted.prompt_id, timeout=180)
    error = caught.value.entry.error if caught.value.entry is not None else None
    assert error is not None and error.get("node_type") == "KSampler", error
    log.info("execution error caught: %s", str(error.get("exception_message", "")).strip()[:200])
