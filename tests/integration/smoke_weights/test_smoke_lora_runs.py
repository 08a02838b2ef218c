"""The generator's LoRA graphs run for real on smoke LoRAs in the one session ComfyUI: the LoRA a request
names is written for the model the graph loads it onto (`comfyui_local.smoke_loras.ensure_graph_loras`, as
a local smoke backend does on first use), the shrunk graph runs, its image decodes, and ComfyUI's log has no
"lora key not loaded" for it (every key of the file patched a weight of the model).

Timing and peak memory are logged (run with `-o log_cli=true -o log_cli_level=INFO`), never asserted.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from smoke_helpers import comfy_peak_mib, generate_and_run_shrunk, live_backend, loaded_files, place_families

from comfyui_client import ComfyClient
from comfyui_local import install
from comfyui_local.smoke_families import FAMILIES
from comfyui_local.smoke_loras import (
    base_files,
    build_loras,
    ensure_graph_loras,
    graph_loras,
    smoke_lora,
    smoke_lora_base,
)
from node_catalog import Catalog
from pipeline import GenerationRequest, Generator
from tests.support import solid_png

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)
LORA_WARNINGS = ("lora key not loaded", "NOT LOADED")


@pytest.fixture()
async def live(
    image_smoke_models: dict[str, Path], comfyui: Any
) -> AsyncIterator[tuple[ComfyClient, Catalog]]:
    async with live_backend(comfyui, solid_png(64, 64, (30, 60, 90)), "smoke_lora_in.png") as backend:
        yield backend


def smoke_set_models() -> dict[str, list[str]]:
    models: dict[str, list[str]] = {}
    for files in FAMILIES.values():
        for f in files:
            models.setdefault(f.folder, []).append(f.filename)
    return models


def log_since(path: Path, offset: int) -> str:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read().decode(errors="replace")


async def run_lora_request(
    client: ComfyClient,
    catalog: Catalog,
    comfyui: Any,
    prompt: str,
    lora: str,
    base: str,
    wait: float = 300.0,
) -> dict[str, Any]:
    """Write the graph's smoke LoRA as a local smoke backend would, then generate, run shrunk and read the
    ComfyUI log the run wrote."""
    offline = await Generator(Catalog.bundled()).generate(
        GenerationRequest(prompt=prompt, models={**smoke_set_models(), "loras": [lora]})
    )
    assert offline.workflow is not None, offline.error
    assert graph_loras(offline.workflow) == [(lora, base)]
    (path,) = ensure_graph_loras(Path(comfyui.models_dir), offline.workflow, inst=install())
    assert smoke_lora_base(path) == base
    mark = Path(comfyui.log_path).stat().st_size  # noqa: ASYNC240 (a stat, between runs)
    workflow = await generate_and_run_shrunk(
        client, catalog, comfyui, GenerationRequest(prompt=prompt), prompt, wait=wait
    )
    assert loaded_files(workflow, "LoraLoader", "lora_name") == [lora]
    written = log_since(Path(comfyui.log_path), mark)
    assert not [line for line in written.splitlines() if any(w in line for w in LORA_WARNINGS)], written
    log.info(
        "%s: LoRA %s (%d bytes), ComfyUI peak RSS %.0f MiB",
        base,
        lora,
        path.stat().st_size,
        comfy_peak_mib(comfyui),
    )
    return workflow


async def test_sd15_lora_graph_runs_on_a_smoke_lora(live: tuple[ComfyClient, Catalog], comfyui: Any) -> None:
    client, catalog = live
    await run_lora_request(
        client,
        catalog,
        comfyui,
        "an SD1.5 picture of a samurai in the rain using the inkwash lora at 0.7",
        "inkwash.safetensors",
        "sd15_ckpt",
    )


@pytest.mark.slow  # the SDXL text encoders (CLIP-L + CLIP-G) encode the prompt in ~30 s on 2 cores
async def test_sdxl_lora_graph_runs_on_a_smoke_lora(live: tuple[ComfyClient, Catalog], comfyui: Any) -> None:
    client, catalog = live
    workflow = await run_lora_request(
        client,
        catalog,
        comfyui,
        "an SDXL picture of a fox with the ghibli lora",
        "ghibli.safetensors",
        "sdxl_ckpt",
    )
    assert loaded_files(workflow, "CheckpointLoaderSimple", "ckpt_name") == ["sd_xl_base_1.0.safetensors"]


# One per DiT family: the stub text encoders' zero Linears skip their products in the local ComfyUI
# (_comfy_site/sitecustomize.py): each run takes 30-100 s on 2 cores (Flux, Qwen-Image and Wan took 2-9 min).
@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "prompt", "lora", "base"),
    [
        (
            "hunyuan_video",
            "a hunyuan video of a fox running with the hvink lora",
            "hvink.safetensors",
            "dit_t2v",
        ),
        ("flux", "a flux image of a lighthouse with the fluxink lora", "fluxink.safetensors", "flux_dit"),
        ("qwen_image", "a qwen image of a teapot, qwenink lora", "qwenink.safetensors", "qwen_dit"),
        ("wan21", "a wan video of a kite in the wind, wanink lora", "wanink.safetensors", "wan_t2v_dit"),
    ],
)
async def test_dit_lora_graph_runs_on_a_smoke_lora(
    live: tuple[ComfyClient, Catalog],
    comfyui: Any,
    image_smoke_weights_cache: Any,
    family: str,
    prompt: str,
    lora: str,
    base: str,
) -> None:
    """A LoRA on a diffusion-model file (UNETLoader) rather than a checkpoint."""
    place_families(image_smoke_weights_cache.paths[0].parents[1], [family], comfyui.models_dir)
    client, _ = live
    catalog = await Catalog.live(client)  # now listing the family's files
    await run_lora_request(client, catalog, comfyui, prompt, lora, base, wait=1500)


@pytest.mark.slow
def test_dit_family_loras_patch_every_key_of_their_model(tmp_path: Path) -> None:
    """Flux, Qwen-Image (fp8) and Wan LoRAs are written and loaded by ComfyUI's load_lora against the model
    built for them; the writer refuses a file with any key left unloaded or any shape wrong."""
    bases = ["flux_dit", "qwen_dit", "wan_t2v_dit"]
    files = [smoke_lora(f"{base}_check.safetensors", base_files()[base]) for base in bases]
    report = build_loras(tmp_path, files, inst=install())
    assert sorted(smoke_lora_base(p) for p in report.paths) == sorted(bases)
