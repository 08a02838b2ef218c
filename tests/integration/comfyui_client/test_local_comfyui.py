"""The local ComfyUI fixture: installed, started on a free port, answering, stoppable."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_local_comfyui_answers(comfyui: Any) -> None:
    with urllib.request.urlopen(f"{comfyui.url}/system_stats", timeout=5) as resp:
        stats = json.load(resp)
    assert stats["system"]["comfyui_version"] == "0.3.75"
    assert (comfyui.models_dir / "diffusion_models").is_dir()
