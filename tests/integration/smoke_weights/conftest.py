"""Fixtures of the smoke-weight tests; `hunyuan_smoke_models` and `smoke_weights_cache` live in
tests/conftest.py (shared with the API, pipeline and evals tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest


@pytest.fixture()
def comfy_http(comfyui: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=comfyui.url, timeout=30.0) as client:
        yield client
