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
    family_of,
)
from comfyui_local.smoke_weights import MARKER, SmokeWeightsError, build_smoke_weights, is_smoke_weights

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "pipeline" / "templates"
FRAGMENTS = ROOT / "agents" / "compose" / "fragments"


def strings(obj: object) -> set[str]:
    if isinstance(obj, str):
        return {obj}
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else []
    return {s for v in values for s in strings(v)}


def test_families_use_the_generators_file_names() -> None:
    """Every smoke file is named by a template or a composer fragment (no family the generator never uses)."""
    named = {
        s
        for path in [*TEMPLATES.glob("*.json"), *FRAGMENTS.glob("*.json")]
        for s in strings(json.loads(path.read_text()))
    }
    for name in FAMILIES:
        for f in FAMILIES[name]:
            # the original HunyuanVideo set also holds the official example workflow's v1 I2V model
            assert f.filename in named or f.role == "dit_i2v", f.filename


def test_family_files_are_unique_and_unknown_families_say_why() -> None:
    files = family_files(["hunyuan_video", "sd15", "hunyuan_video"])
    assert len(files) == len(set(files)) == len(FAMILIES["hunyuan_video"]) + len(FAMILIES["sd15"])
    # the preprocessors are still not runnable (sd21_unclip, the example here before, now has smoke weights)
    with pytest.raises(SmokeWeightsError, match="custom node packs"):
        family_files(["preprocessors"])
    assert "preprocessors" in NOT_RUNNABLE
    assert not set(NOT_RUNNABLE) & set(FAMILIES)


def test_families_for_a_graphs_files() -> None:
    assert families_for({"checkpoints": ["v1-5-pruned-emaonly.safetensors"], "input": ["a.png"]}) == {"sd15"}
    assert families_for({"upscale_models": ["RealESRGAN_x4plus.pth"]}) == {"esrgan"}
    assert families_for({"checkpoints": ["sd21-unclip-h.ckpt"], "input": ["a.png"]}) == {"sd21_unclip"}
    assert families_for({"checkpoints": ["someone_elses_model.ckpt"]}) is None
    flux = {"unet": ["flux1-dev.safetensors"], "vae": ["ae.safetensors"], "clip": ["clip_l.safetensors"]}
    # clip_l is shared with HunyuanVideo (its first family); both sets hold it
    assert families_for(flux) == {"flux", "hunyuan_video"}
    control = {
        "checkpoints": ["v1-5-pruned-emaonly.safetensors"],
        "controlnet": ["control_v11p_sd15_canny_fp16.safetensors"],
    }
    assert families_for(control) == {"sd15", "sd15_controlnet"}
    qwen = {
        "unet": ["qwen_image_edit_2509_fp8_e4m3fn.safetensors"],
        "clip": ["qwen_2.5_vl_7b_fp8_scaled.safetensors"],
        "vae": ["qwen_image_vae.safetensors"],
    }
    assert families_for(qwen) == {"qwen_image"}
    # The DiffSynth canny ControlNet is a model patch with smoke weights of its own, run with Qwen-Image
    canny = {**qwen, "model_patches": ["qwen_image_canny_diffsynth_controlnet.safetensors"]}
    assert families_for(canny) == {"qwen_image", "qwen_image_controlnet"}


def test_families_for_style_reference_graphs() -> None:
    """A Flux Redux graph needs Flux and flux_redux; an SD1.5 style-adapter graph sd15 and sd15_style (its
    .pth adapter named by the family, as ESRGAN's: evals judge a pickle by the smoke set's names)."""
    redux = {
        "unet": ["flux1-dev.safetensors"],
        "clip": ["t5xxl_fp16.safetensors"],
        "vae": ["ae.safetensors"],
        "clip_vision": ["sigclip_vision_patch14_384.safetensors"],
        "style_models": ["flux1-redux-dev.safetensors"],
        "input": ["ref.png"],
    }
    assert families_for(redux) == {"flux", "flux_redux"}
    style = {
        "checkpoints": ["v1-5-pruned-emaonly.safetensors"],
        "clip_vision": ["clip_vision_vit_l.safetensors"],
        "style_models": ["coadapter-style-sd15v1.pth"],
    }
    assert families_for(style) == {"sd15", "sd15_style"}
    assert family_of("style_models", "coadapter-style-sd15v1.pth") == "sd15_style"
    # Wan's image encoder stays with its family
    assert families_for({"clip_vision": ["clip_vision_h.safetensors"]}) == {"wan21"}


def test_wan21_covers_every_file_of_the_wan_fragments() -> None:
    """t2v, i2v and VACE graphs composed from the wan21 fragments need the wan21 family alone; its VAE is
    the Qwen-Image family's architecture under Wan's own file name."""
    fragments = json.loads((FRAGMENTS / "wan21.json").read_text())["fragments"]
    for fragment in fragments:
        required: dict[str, list[str]] = {}
        for node in fragment["nodes"].values():
            for key, folder in (("unet_name", "diffusion_models"), ("clip_name", "text_encoders")):
                value = node["inputs"].get(key)
                if isinstance(value, str):
                    folder = "clip_vision" if node["class_type"] == "CLIPVisionLoader" else folder
                    required.setdefault(folder, []).append(value)
            if node["class_type"] == "VAELoader":
                required.setdefault("vae", []).append(node["inputs"]["vae_name"])
        assert families_for(required) == {"wan21"}, fragment["name"]
    assert "wan21" not in NOT_RUNNABLE
    roles = {f.role for f in family_files(["wan21"])}
    assert {"wan_t2v_dit", "wan_i2v_dit", "wan_vace_dit", "umt5_xxl", "wan_vae", "clip_vision_h"} == roles


def test_qwen_image_controlnet_covers_the_canny_fragment() -> None:
    """The composer's Qwen-Image canny ControlNet graph (issue 14) needs qwen_image and its model patch
    family alone, and is no longer listed as not runnable."""
    (fragment,) = [
        f
        for f in json.loads((FRAGMENTS / "qwen_image.json").read_text())["fragments"]
        if f["name"] == "qwen_image.control_canny"
    ]
    required: dict[str, list[str]] = {}
    for node in fragment["nodes"].values():
        for key, folder in (
            ("unet_name", "diffusion_models"),
            ("clip_name", "text_encoders"),
            ("vae_name", "vae"),
            ("name", "model_patches"),
        ):
            value = node["inputs"].get(key)
            if isinstance(value, str):
                required.setdefault(folder, []).append(value)
    assert families_for(required) == {"qwen_image", "qwen_image_controlnet"}
    assert "qwen_image_controlnet" not in NOT_RUNNABLE
    (patch,) = family_files(["qwen_image_controlnet"])
    assert (patch.folder, patch.loader) == ("model_patches", "ModelPatchLoader")


def test_sd21_unclip_is_one_pickle_checkpoint_named_by_its_fragment() -> None:
    """The unCLIP fragment's one model file is the family's checkpoint, a .ckpt (torch zip, marker record)."""
    (fragment,) = json.loads((FRAGMENTS / "sd21_unclip.json").read_text())["fragments"]
    names = [n["inputs"]["ckpt_name"] for n in fragment["nodes"].values() if "ckpt_name" in n["inputs"]]
    assert families_for({"checkpoints": names}) == {"sd21_unclip"}
    (ckpt,) = family_files(["sd21_unclip"])
    assert (ckpt.folder, ckpt.filename, ckpt.loader) == ("checkpoints", names[0], "unCLIPCheckpointLoader")
    assert "sd21_unclip" not in NOT_RUNNABLE


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
