"""HunyuanVideo smoke weights on the shared real ComfyUI: generated once per machine, copied in per test.

`hunyuan_smoke_models` is meant to be promoted to tests/conftest.py for the API and pipeline tests: it makes
the official HunyuanVideo file names in `comfyui.models_dir` real (stub) smoke weights, replacing the empty
placeholders other tests write under the same names, and does so again before every test that asks for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from smoke_helpers import SmokeModels

from comfyui_client.local import default_root, install
from comfyui_client.local.smoke_weights import (
    ALL_FILES,
    Kind,
    SmokeWeightsReport,
    build_smoke_weights,
    install_smoke_weights,
)

log = logging.getLogger(__name__)
KIND: Kind = "stub"
SEED = 0


@pytest.fixture(scope="session")
def smoke_weights_cache() -> SmokeWeightsReport:
    """Stub smoke weights in ~/.cache/comfy-gateway/smoke-weights/stub-0 (written once per machine)."""
    cache = default_root().parent / "smoke-weights" / f"{KIND}-{SEED}"
    started = time.monotonic()
    report = build_smoke_weights(cache, inst=install(), kind=KIND, seed=SEED)
    log.info("smoke weights ready in %.1f s (generated: %s)", time.monotonic() - started, report.generated)
    return report


@pytest.fixture(scope="session")
def fresh_heap_comfyui(comfyui: Any) -> Any:
    """The session ComfyUI, restarted once before the first smoke-weight test.

    Stub weights leave ComfyUI's large tensors uninitialised, counting on fresh zero pages. After many other
    tests glibc can hand out coalesced free heap memory instead, and stale bytes become weights (seen: NaN
    frames from the i2v text encoder in a long-lived process, clean ones from the same graph on a fresh one).
    """
    comfyui.stop()
    comfyui.start()
    return comfyui


@pytest.fixture()
def hunyuan_smoke_models(fresh_heap_comfyui: Any, smoke_weights_cache: SmokeWeightsReport) -> SmokeModels:
    """Copy the smoke files into the running ComfyUI's models folder (cheap when already there)."""
    comfyui = fresh_heap_comfyui
    cache_dir = smoke_weights_cache.paths[0].parents[1]
    placed = install_smoke_weights(smoke_weights_cache.paths, cache_dir, comfyui.models_dir)
    return SmokeModels(
        models_dir=comfyui.models_dir,
        cache_dir=cache_dir,
        paths={f.role: p for f, p in zip(ALL_FILES, placed, strict=True)},
        report=smoke_weights_cache,
    )


@pytest.fixture()
def comfy_http(comfyui: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=comfyui.url, timeout=30.0) as client:
        yield client
