"""Fixtures of the smoke-weight tests; `hunyuan_smoke_models` and `smoke_weights_cache` live in
tests/conftest.py (shared with the API, pipeline and evals tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest


@pytest.fixture()
def comfy_http(comfyui: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=comfyui.url, timeout=30.0) as client:
        yield client


IMAGE_FAMILIES = ("sd15", "sdxl", "esrgan")


@pytest.fixture(scope="session")
def image_smoke_weights_cache(smoke_weights_cache: Any) -> Any:
    """The image families' stub smoke weights, beside the HunyuanVideo ones in the machine's cache (written
    once per machine, then only checked); a `SmokeWeightsReport`."""
    from comfyui_local import install
    from comfyui_local.smoke_families import build_families
    from tests.smoke_support import SMOKE_KIND, SMOKE_SEED

    cache_dir = smoke_weights_cache.paths[0].parents[1]
    return build_families(cache_dir, IMAGE_FAMILIES, inst=install(), kind=SMOKE_KIND, seed=SMOKE_SEED)


@pytest.fixture()
def image_smoke_models(comfyui: Any, image_smoke_weights_cache: Any) -> dict[str, Path]:
    """The image families' files copied into the session ComfyUI's models folder; role -> path.
    Copied before every test: other suites write empty placeholders under the same names."""
    from comfyui_local.smoke_families import family_files
    from comfyui_local.smoke_weights import install_smoke_weights

    cache_dir = image_smoke_weights_cache.paths[0].parents[1]
    placed = install_smoke_weights(image_smoke_weights_cache.paths, cache_dir, comfyui.models_dir)
    return {f.role: p for f, p in zip(family_files(IMAGE_FAMILIES), placed, strict=True)}


MORE_FAMILIES = ("flux", "sd15_controlnet")


@pytest.fixture()
def more_smoke_models(
    image_smoke_models: dict[str, Path], image_smoke_weights_cache: Any, comfyui: Any
) -> dict[str, Path]:
    """The image families plus Flux and the SD1.5 ControlNets in the session ComfyUI's models folder (the new
    files written into the machine's cache once); role -> path."""
    from smoke_helpers import place_families

    cache_dir = image_smoke_weights_cache.paths[0].parents[1]
    return {**image_smoke_models, **place_families(cache_dir, MORE_FAMILIES, comfyui.models_dir)}
