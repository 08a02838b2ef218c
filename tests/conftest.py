"""Shared fixtures: sample files, and one real local ComfyUI per test session for `integration` tests."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import COMFY_FIXTURES, FIXTURES, SAMPLES, load_sample

__all__ = ["COMFY_FIXTURES", "FIXTURES", "SAMPLES", "load_sample"]


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def object_info() -> dict[str, Any]:
    return json.loads((COMFY_FIXTURES / "object_info.json").read_text())


@pytest.fixture(scope="session")
def comfyui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real ComfyUI 0.3.75 on a free port with a base directory of its own, for the whole session.

    Installed on first use (`comfy-gateway comfyui install`, cached under ~/.cache/comfy-gateway). Set
    `COMFYUI_TEST_URL` to run the integration tests against an already running ComfyUI instead.
    """
    from comfyui_client.local import LocalComfyUI, install

    if os.environ.get("COMFYUI_TEST_URL"):
        pytest.skip("COMFYUI_TEST_URL given: fixture `comfyui` manages a local process only")
    base = tmp_path_factory.mktemp("comfyui-base")
    with LocalComfyUI(install(), base_dir=base) as comfy:
        yield comfy
