"""The pipeline against the real local ComfyUI: generated HunyuanVideo graphs are accepted, a model-free
request runs and its mp4 comes back, and an execution error at run time is repaired and resubmitted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from comfyui_client import ComfyClient
from node_catalog import Catalog
from pipeline import GenerationRequest, Generator, TemplateLibrary
from tests.gateway_support import touch_placeholders
from tests.support import solid_png

pytestmark = pytest.mark.integration

PLACEHOLDERS = {
    "diffusion_models": [
        "hunyuan_video_t2v_720p_bf16.safetensors",
        "hunyuan_video_v2_replace_image_to_video_720p_bf16.safetensors",
    ],
    "text_encoders": ["clip_l.safetensors", "llava_llama3_fp8_scaled.safetensors"],
    "vae": ["hunyuan_video_vae_bf16.safetensors"],
    "clip_vision": ["llava_llama3_vision.safetensors"],
}


def tiny_png(width: int = 32, height: int = 32, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    return solid_png(width, height, rgb)


@pytest.fixture(scope="module")
async def live(comfyui: Any) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    touch_placeholders(Path(comfyui.models_dir), PLACEHOLDERS)
    async with ComfyClient(comfyui.url, timeout=30) as client:
        await client.upload(tiny_png(), "gateway_start.png", overwrite=True)
        yield client, await Catalog.live(client)


async def _accepted_then_cancelled(client: ComfyClient, prompt_id: str) -> None:
    """ComfyUI queued the graph (no 400). Cancel it: with empty placeholders it would fail at the first
    loader, with smoke weights (another suite may install them under the same names) it would run for long."""
    for _ in range(600):
        await client.delete_pending(prompt_id)
        await client.interrupt(prompt_id)
        if prompt_id not in await client.queue():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {prompt_id} is still queued")


async def test_hunyuan_t2v_from_text_is_accepted(live: tuple[ComfyClient, Catalog]) -> None:
    client, catalog = live
    generator = Generator(catalog, client=client)
    result = await generator.generate(GenerationRequest(prompt="a cat surfing, 3 seconds, 720p", submit=True))
    assert result.error is None, result.error
    assert result.status == "submitted" and result.prompt_id
    latent = next(n for n in (result.workflow or {}).values() if n["class_type"] == "EmptyHunyuanLatentVideo")
    assert latent["inputs"] == {"width": 1280, "height": 720, "length": 73, "batch_size": 1}
    await _accepted_then_cancelled(client, result.prompt_id)


async def test_hunyuan_i2v_from_text_is_accepted(live: tuple[ComfyClient, Catalog]) -> None:
    client, catalog = live
    generator = Generator(catalog, client=client)
    result = await generator.generate(
        GenerationRequest(
            prompt="animate gateway_start.png: the red square slowly spins, 2 seconds", submit=True
        )
    )
    assert result.error is None, result.error
    assert result.template == "hunyuan_i2v"
    assert result.status == "submitted" and result.prompt_id
    await _accepted_then_cancelled(client, result.prompt_id)


async def test_hunyuan_i2v_with_a_missing_input_image_is_refused_before_comfyui(
    live: tuple[ComfyClient, Catalog],
) -> None:
    client, catalog = live
    result = await Generator(catalog, client=client).generate(
        GenerationRequest(prompt="animate nowhere_to_be_found.png into a clip", submit=True, max_repairs=1)
    )
    assert result.prompt_id is None
    assert result.error is not None
    assert "nowhere_to_be_found.png" in json.dumps(result.validation)


async def test_model_free_test_video_runs_and_its_mp4_comes_back(live: tuple[ComfyClient, Catalog]) -> None:
    client, catalog = live
    generator = Generator(catalog, client=client)
    result = await generator.generate(
        GenerationRequest(
            prompt="make a 2-second test video of solid red frames", submit=True, wait=True, timeout=120
        )
    )
    assert result.error is None, result.error
    assert result.status == "succeeded"
    videos = [f for f in result.outputs if f["kind"] == "video"]
    assert videos and videos[0]["filename"].endswith(".mp4")
    async with client.view(
        videos[0]["filename"], subfolder=videos[0]["subfolder"], type=videos[0]["type"]
    ) as resp:
        data = await resp.aread()
    assert data[4:8] == b"ftyp" and len(data) > 500


async def test_execution_error_is_repaired_and_resubmitted(
    live: tuple[ComfyClient, Catalog], comfyui: Any, tmp_path: Path
) -> None:
    """A VAE file the backend lists but cannot load fails at run time; Refine swaps it and the rerun works."""
    client, catalog = live
    broken = Path(comfyui.models_dir) / "vae" / "gateway_broken_vae.safetensors"
    broken.write_bytes(b"")  # listed by ComfyUI, accepted at submit, fails when loaded
    try:
        await _repair_run(client, catalog, broken, tmp_path)
    finally:
        broken.unlink(missing_ok=True)  # the ComfyUI is shared by the whole session


async def _repair_run(client: ComfyClient, catalog: Catalog, broken: Path, tmp_path: Path) -> None:
    user_dir = tmp_path / "templates"
    user_dir.mkdir()
    (user_dir / "pixel_roundtrip_video.json").write_text(json.dumps(PIXEL_ROUNDTRIP))
    generator = Generator(catalog, client=client, templates=TemplateLibrary.load(user_dir))
    result = await generator.generate(
        GenerationRequest(
            prompt="a 1 second green test clip through the VAE",
            template="pixel_roundtrip_video",
            overrides={"extra_params": {"vae_name": broken.name}},
            # pin the VAE choices: another suite may have put loadable files in the shared models/vae
            models={"vae": [broken.name]},
            submit=True,
            wait=True,
            timeout=120,
            max_repairs=3,
        )
    )
    assert result.error is None, (result.error, result.steps)
    assert result.status == "succeeded"
    causes = [r["cause"] for r in result.repairs]
    assert "execution_error" in causes
    fixes = " ".join(f for r in result.repairs for f in r["fixes"])
    assert broken.name in fixes and "failed to load" in fixes
    vae = next(n for n in (result.workflow or {}).values() if n["class_type"] == "VAELoader")
    assert vae["inputs"]["vae_name"] == "pixel_space"
    assert [s["agent"] for s in result.steps].count("execute") >= 2
    assert any(f["kind"] == "video" for f in result.outputs)


PIXEL_ROUNDTRIP: dict[str, Any] = {
    "name": "pixel_roundtrip_video",
    "version": "1.0.0",
    "title": "VAE round trip test video",
    "description": "Solid frames encoded and decoded by a VAE, saved as mp4 (pixel_space runs on CPU).",
    "tasks": ["test-video"],
    "model_family": "none",
    "model_free": True,
    "output": "video",
    "parameters": {
        "vae_name": {
            "type": "model",
            "default": "pixel_space",
            "folder": "vae",
            "targets": [["2", "vae_name"]],
        },
        "frames": {"type": "int", "default": 8, "min": 1, "max": 64, "targets": [["1", "batch_size"]]},
    },
    "workflow": {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 8, "color": 65280},
        },
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}},
        "3": {"class_type": "VAEEncode", "inputs": {"pixels": ["1", 0], "vae": ["2", 0]}},
        "4": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["2", 0]}},
        "5": {"class_type": "CreateVideo", "inputs": {"images": ["4", 0], "fps": 8.0}},
        "6": {
            "class_type": "SaveVideo",
            "inputs": {
                "video": ["5", 0],
                "filename_prefix": "video/roundtrip",
                "format": "mp4",
                "codec": "h264",
            },
        },
    },
}
