"""Families of smoke weights: file names the generator uses, the .pth marker, never over real files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from comfyui_local.installer import ComfyInstall
from comfyui_local.smoke_families import (
    FAMILIES,
    NOT_RUNNABLE,
    all_smoke,
    families_for,
    family_files,
)
from comfyui_local.smoke_weights import MARKER, SmokeWeightsError, build_smoke_weights, is_smoke_weights

TEMPLATES = Path(__file__).resolve().parents[3] / "pipeline" / "templates"


def test_families_use_the_generators_file_names() -> None:
    named = {
        v
        for path in TEMPLATES.glob("*.json")
        for node in json.loads(path.read_text())["workflow"].values()
        for v in node["inputs"].values()
        if isinstance(v, str)
    }
    for name in ("sd15", "sdxl", "esrgan"):
        for f in FAMILIES[name]:
            assert f.filename in named, f.filename


def test_family_files_are_unique_and_unknown_families_say_why() -> None:
    files = family_files(["hunyuan_video", "sd15", "hunyuan_video"])
    assert len(files) == len(set(files)) == len(FAMILIES["hunyuan_video"]) + 1
    with pytest.raises(SmokeWeightsError, match="T5-XXL"):
        family_files(["flux"])
    assert "flux" in NOT_RUNNABLE


def test_families_for_a_graphs_files() -> None:
    assert families_for({"checkpoints": ["v1-5-pruned-emaonly.safetensors"], "input": ["a.png"]}) == {"sd15"}
    assert families_for({"upscale_models": ["RealESRGAN_x4plus.pth"]}) == {"esrgan"}
    assert families_for({"unet": ["flux1-dev.safetensors"]}) is None


def fake_pth(path: Path, marker: dict[str, str] | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", b"\\x80\\x02}q\\x00.")
        if marker is not None:
            zf.writestr(f"archive/{MARKER}.json", json.dumps(marker))


def test_pth_marker_is_read_from_the_zip_record(tmp_path: Path) -> None:
    marked, real, junk = tmp_path / "a.pth", tmp_path / "b.pth", tmp_path / "c.pth"
    fake_pth(marked, {MARKER: "1", "kind": "stub", "seed": "0", "role": "esrgan_x4"})
    fake_pth(real, None)
    junk.write_bytes(b"not a zip")
    assert is_smoke_weights(marked)
    assert not is_smoke_weights(real) and not is_smoke_weights(junk)
    assert all_smoke(tmp_path.parent, {tmp_path.name: ["a.pth"]})
    assert not all_smoke(tmp_path.parent, {tmp_path.name: ["a.pth", "b.pth"]})


def test_real_files_are_never_written_over(tmp_path: Path) -> None:
    models = tmp_path / "models"
    real = models / "upscale_models" / "RealESRGAN_x4plus.pth"
    fake_pth(real, None)
    inst = ComfyInstall(tmp_path / "no-install")
    with pytest.raises(SmokeWeightsError, match="not smoke weights"):
        build_smoke_weights(models, inst=inst, files=family_files(["esrgan"]), force=True)
    assert not is_smoke_weights(real)
