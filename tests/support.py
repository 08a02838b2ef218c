"""Paths and loaders shared by every test module: `from tests.support import SAMPLES, load_sample`.

conftest.py modules are all imported under the one name `conftest`, so tests must not import from them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"
COMFY_FIXTURES = FIXTURES / "comfyui"
SAMPLES = COMFY_FIXTURES / "samples"


def load_sample(name: str) -> Any:
    """A JSON file from tests/fixtures/comfyui/samples (copied from shared/comfyui)."""
    return json.loads((SAMPLES / name).read_text())
