"""Paths and loaders shared by every test module: `from tests.support import SAMPLES, load_sample`.

conftest.py modules are all imported under the one name `conftest`, so tests must not import from them.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"
COMFY_FIXTURES = FIXTURES / "comfyui"
SAMPLES = COMFY_FIXTURES / "samples"


def load_sample(name: str) -> Any:
    """A JSON file from tests/fixtures/comfyui/samples (copied from shared/comfyui)."""
    return json.loads((SAMPLES / name).read_text())


def solid_png(width: int = 32, height: int = 32, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A real PNG of one colour (no imaging library needed), for input uploads and output checks."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
