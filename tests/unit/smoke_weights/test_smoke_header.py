"""Reading safetensors headers with the standard library: what counts as a smoke-weight file."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from comfyui_local import is_smoke_weights
from comfyui_local.smoke_weights import (
    MARKER,
    WRITER_REVISION,
    NotSafetensors,
    matches,
    read_safetensors_header,
    smoke_metadata,
)


def write_st(path: Path, metadata: dict[str, str] | None, *, tensors: int = 1) -> Path:
    """A valid safetensors file (F32 vectors of length 2) written with the stdlib."""
    header: dict[str, object] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    for i in range(tensors):
        header[f"t{i}"] = {"dtype": "F32", "shape": [2], "data_offsets": [8 * i, 8 * i + 8]}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 8 * tensors)
    return path


SMOKE = {
    MARKER: "1",
    "kind": "stub",
    "seed": "0",
    "writer": WRITER_REVISION,
    "role": "vae",
    "note": "random weights",
}


def test_header_of_a_valid_file(tmp_path: Path) -> None:
    header = read_safetensors_header(write_st(tmp_path / "a.safetensors", SMOKE, tensors=3))
    assert header["__metadata__"] == SMOKE
    assert sorted(k for k in header if k != "__metadata__") == ["t0", "t1", "t2"]


def test_smoke_file_is_recognised(tmp_path: Path) -> None:
    path = write_st(tmp_path / "vae.safetensors", SMOKE)
    assert is_smoke_weights(path)
    assert is_smoke_weights(str(path))
    assert smoke_metadata(path) == SMOKE


def test_real_weights_are_not_smoke_weights(tmp_path: Path) -> None:
    assert not is_smoke_weights(write_st(tmp_path / "real.safetensors", {"format": "pt"}))
    assert not is_smoke_weights(write_st(tmp_path / "bare.safetensors", None))
    assert not is_smoke_weights(write_st(tmp_path / "v2.safetensors", {**SMOKE, MARKER: "2"}))


@pytest.mark.parametrize(
    "content",
    [
        b"",  # the empty placeholder other tests use
        b"\x01\x02\x03",  # shorter than the length prefix
        struct.pack("<Q", 10**12) + b"{}",  # length beyond the file
        struct.pack("<Q", 0),  # zero-length header
        struct.pack("<Q", 4) + b"\xff\xfe{}",  # not UTF-8
        struct.pack("<Q", 4) + b"nope",  # not JSON
        struct.pack("<Q", 2) + b"[]",  # JSON but not an object
    ],
)
def test_junk_is_rejected_cleanly(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.safetensors"
    path.write_bytes(content)
    with pytest.raises(NotSafetensors):
        read_safetensors_header(path)
    assert not is_smoke_weights(path)
    assert smoke_metadata(path) is None


def test_missing_file_and_directory_are_not_smoke_weights(tmp_path: Path) -> None:
    assert not is_smoke_weights(tmp_path / "absent.safetensors")
    assert not is_smoke_weights(tmp_path)


def test_metadata_must_be_an_object(tmp_path: Path) -> None:
    path = tmp_path / "odd.safetensors"
    raw = json.dumps({"__metadata__": "comfy_gateway_smoke_weights"}).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    assert not is_smoke_weights(path)


def test_matches_kind_seed_and_role(tmp_path: Path) -> None:
    path = write_st(tmp_path / "vae.safetensors", SMOKE)
    assert matches(path, kind="stub", seed=0)
    assert matches(path, kind="stub", seed=0, role="vae")
    assert not matches(path, kind="tiny", seed=0)
    assert not matches(path, kind="stub", seed=1)
    assert not matches(path, kind="stub", seed=0, role="clip_l")
    older = {k: v for k, v in SMOKE.items() if k != "writer"}
    assert not matches(write_st(tmp_path / "old.safetensors", older), kind="stub", seed=0)
    assert is_smoke_weights(tmp_path / "old.safetensors")  # still a smoke file (never taken for a real one)
    assert not matches(tmp_path / "absent.safetensors", kind="stub", seed=0)
