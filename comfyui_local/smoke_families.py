"""Which smoke-weight files make which model family runnable, under the names the generator's graphs use.

A family is the set of files one kind of graph loads (`pipeline/templates/*.json`,
`agents/compose/fragments/*.json`). `hunyuan_video` is the original set; the other families are described by
sibling modules of the same worker (`_smoke_image_models.py`: SD1.5, SDXL, SD 2.1 unCLIP-H, ESRGAN, SD VAE;
`_smoke_flux_models.py`: Flux dev, Fill, Kontext, its VAE and T5-XXL; `_smoke_control_models.py`: the SD1.5
ControlNets and the SDXL canny one; `_smoke_qwen_models.py`: Qwen-Image and its 2509 edit model, Qwen2.5-VL
7B, the Wan 2.1 VAE, and the DiffSynth canny ControlNet patch (ModelPatchLoader);
`_smoke_vision_models.py`: Flux Redux + SigLIP 384, the SD1.5 style adapter + CLIP ViT-L, Wan's CLIP ViT-H;
`_smoke_lotus_models.py`: the Lotus depth UNet;
`_smoke_wan_models.py`: Wan 2.1 t2v, i2v and VACE, UMT5-XXL with a trained smoke tokenizer, the Wan VAE).
LoRAs are named by requests, not by the generator: `smoke_loras` builds one under any name for the model file
it patches (`_smoke_lora_models.py`).
Families named by the generator that have no smoke weights are listed in `NOT_RUNNABLE` with the reason, so
reports can say why a graph was not executed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from comfyui_local.installer import ComfyInstall
from comfyui_local.smoke_weights import (
    ALL_FILES,
    Kind,
    SmokeFile,
    SmokeWeightsError,
    SmokeWeightsReport,
    build_smoke_weights,
    is_smoke_weights,
)

log = logging.getLogger(__name__)

SD15_FILES: tuple[SmokeFile, ...] = (
    SmokeFile("sd15_ckpt", "checkpoints", "v1-5-pruned-emaonly.safetensors", "CheckpointLoaderSimple"),
    SmokeFile("sd_vae", "vae", "vae-ft-mse-840000-ema-pruned.safetensors", "VAELoader"),
)
SDXL_FILES: tuple[SmokeFile, ...] = (
    SmokeFile("sdxl_ckpt", "checkpoints", "sd_xl_base_1.0.safetensors", "CheckpointLoaderSimple"),
)
ESRGAN_FILES: tuple[SmokeFile, ...] = (
    SmokeFile("esrgan_x4", "upscale_models", "RealESRGAN_x4plus.pth", "UpscaleModelLoader"),
)

_CLIP_L = next(f for f in ALL_FILES if f.role == "clip_l")  # shared with HunyuanVideo, same official file
FLUX_FILES: tuple[SmokeFile, ...] = (
    SmokeFile("flux_dit", "diffusion_models", "flux1-dev.safetensors", "UNETLoader"),
    SmokeFile("flux_vae", "vae", "ae.safetensors", "VAELoader"),
    _CLIP_L,
    SmokeFile("t5xxl", "text_encoders", "t5xxl_fp16.safetensors", "DualCLIPLoader"),
    SmokeFile("flux_fill", "diffusion_models", "flux1-fill-dev.safetensors", "UNETLoader"),
    SmokeFile("flux_kontext", "diffusion_models", "flux1-dev-kontext_fp8_scaled.safetensors", "UNETLoader"),
)

# One architecture under the four official names the composer's fragments use; runs with the SD1.5 checkpoint.
SD15_CONTROLNET_FILES: tuple[SmokeFile, ...] = tuple(
    SmokeFile(
        f"cn_sd15_{kind}", "controlnet", f"control_v11{v}_sd15_{kind}_fp16.safetensors", "ControlNetLoader"
    )
    for v, kind in (("p", "canny"), ("f1p", "depth"), ("p", "openpose"), ("p", "scribble"))
)

# The SDXL canny ControlNet (a stub in ldm layout at the tiny SDXL UNet's sizes: `_smoke_control_models.py`);
# runs with the SDXL checkpoint.
SDXL_CONTROLNET_FILES: tuple[SmokeFile, ...] = (
    SmokeFile("cn_sdxl_canny", "controlnet", "controlnet-canny-sdxl-1.0.safetensors", "ControlNetLoader"),
)

# Qwen-Image text-to-image and its 2509 edit model share the text encoder and the (Wan 2.1) VAE.
QWEN_IMAGE_FILES: tuple[SmokeFile, ...] = (
    SmokeFile("qwen_dit", "diffusion_models", "qwen_image_fp8_e4m3fn.safetensors", "UNETLoader"),
    SmokeFile(
        "qwen_edit_dit", "diffusion_models", "qwen_image_edit_2509_fp8_e4m3fn.safetensors", "UNETLoader"
    ),
    SmokeFile("qwen_te", "text_encoders", "qwen_2.5_vl_7b_fp8_scaled.safetensors", "CLIPLoader"),
    SmokeFile("qwen_vae", "vae", "qwen_image_vae.safetensors", "VAELoader"),
)

# The DiffSynth canny ControlNet, a model patch for the Qwen-Image DiT (a stub at ComfyUI's fixed 60 blocks of
# width 3072, the smoke DiT's width); runs with the qwen_image family.
QWEN_IMAGE_CONTROLNET_FILES: tuple[SmokeFile, ...] = (
    SmokeFile(
        "qwen_canny_patch",
        "model_patches",
        "qwen_image_canny_diffsynth_controlnet.safetensors",
        "ModelPatchLoader",
    ),
)

# SD 2.1 unCLIP-H: one pickle (torch zip) holding a tiny UNet, the SD VAE and stubs of the fixed OpenCLIP-H
# text and ViT-H image towers; the smoke marker is a record in the zip (`_smoke_image_models.py`).
SD21_UNCLIP_FILES: tuple[SmokeFile, ...] = (
    SmokeFile("sd21_unclip_h", "checkpoints", "sd21-unclip-h.ckpt", "unCLIPCheckpointLoader"),
)

# Style references: Flux Redux (SigLIP 384 image tokens for Flux dev), the SD1.5 style adapter (CLIP ViT-L).
FLUX_REDUX_FILES: tuple[SmokeFile, ...] = (
    SmokeFile("flux_redux", "style_models", "flux1-redux-dev.safetensors", "StyleModelLoader"),
    SmokeFile("sigclip_vision", "clip_vision", "sigclip_vision_patch14_384.safetensors", "CLIPVisionLoader"),
)
SD15_STYLE_FILES: tuple[SmokeFile, ...] = (
    SmokeFile("sd15_style", "style_models", "coadapter-style-sd15v1.pth", "StyleModelLoader"),
    SmokeFile("clip_vision_vit_l", "clip_vision", "clip_vision_vit_l.safetensors", "CLIPVisionLoader"),
)
# Lotus depth (the UNet behind LotusConditioning); its graphs also load the SD1.5 family's VAE.
LOTUS_DEPTH_FILES: tuple[SmokeFile, ...] = (
    SmokeFile("lotus_depth", "diffusion_models", "lotus-depth-d-v1-1.safetensors", "UNETLoader"),
)

# Wan 2.1: text-to-video, image-to-video (with CLIP ViT-H) and VACE share UMT5-XXL (its tokenizer inside) and
# the Wan 2.1 VAE (`_smoke_wan_models.py`).
WAN21_FILES: tuple[SmokeFile, ...] = (
    SmokeFile("wan_t2v_dit", "diffusion_models", "wan2.1_t2v_1.3B_fp16.safetensors", "UNETLoader"),
    SmokeFile("wan_i2v_dit", "diffusion_models", "wan2.1_i2v_480p_14B_fp8_scaled.safetensors", "UNETLoader"),
    SmokeFile("wan_vace_dit", "diffusion_models", "wan2.1_vace_14B_fp16.safetensors", "UNETLoader"),
    SmokeFile("umt5_xxl", "text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "CLIPLoader"),
    SmokeFile("wan_vae", "vae", "wan_2.1_vae.safetensors", "VAELoader"),
    SmokeFile("clip_vision_h", "clip_vision", "clip_vision_h.safetensors", "CLIPVisionLoader"),
)

# The image-to-video model the generator names (guidance "v2 (replace)"); ALL_FILES has the v1 (concat) one.
HUNYUAN_I2V_V2 = SmokeFile(
    "dit_i2v_v2",
    "diffusion_models",
    "hunyuan_video_v2_replace_image_to_video_720p_bf16.safetensors",
    "UNETLoader",
)

DEFAULT_FAMILY = "hunyuan_video"
FAMILIES: dict[str, tuple[SmokeFile, ...]] = {
    DEFAULT_FAMILY: (*ALL_FILES, HUNYUAN_I2V_V2),
    "sd15": SD15_FILES,
    "sdxl": SDXL_FILES,
    "esrgan": ESRGAN_FILES,
    "flux": FLUX_FILES,
    "sd15_controlnet": SD15_CONTROLNET_FILES,
    "sdxl_controlnet": SDXL_CONTROLNET_FILES,
    "qwen_image": QWEN_IMAGE_FILES,
    "qwen_image_controlnet": QWEN_IMAGE_CONTROLNET_FILES,
    "sd21_unclip": SD21_UNCLIP_FILES,
    "flux_redux": FLUX_REDUX_FILES,
    "sd15_style": SD15_STYLE_FILES,
    "lotus_depth": LOTUS_DEPTH_FILES,
    "wan21": WAN21_FILES,
}

# Families (or files) the generator names that have no smoke weights yet, and why.
NOT_RUNNABLE: dict[str, str] = {
    "preprocessors": "cannot run here: depth_anything_v2_vitl.pth, the DWPose torchscript, face_yolov8m.pt "
    "and rife47.pth are loaded by custom node packs, and the local ComfyUI runs without custom nodes",
}


def family_files(names: Iterable[str]) -> tuple[SmokeFile, ...]:
    """The files of these families, each once, in family order; SmokeWeightsError for an unknown name."""
    out: list[SmokeFile] = []
    for name in names:
        if name not in FAMILIES:
            known = ", ".join(FAMILIES)
            why = NOT_RUNNABLE.get(name)
            raise SmokeWeightsError(
                f"no smoke weights for family {name!r}" + (f" ({why})" if why else "") + f"; known: {known}"
            )
        out.extend(f for f in FAMILIES[name] if f not in out)
    return tuple(out)


def build_families(
    models_dir: Path,
    families: Sequence[str],
    *,
    inst: ComfyInstall,
    kind: Kind = "stub",
    seed: int = 0,
    force: bool = False,
) -> SmokeWeightsReport:
    """Write (idempotently) the smoke weights of the given families into `models_dir/<folder>/`."""
    return build_smoke_weights(
        models_dir, inst=inst, kind=kind, seed=seed, force=force, files=family_files(families)
    )


def family_of(folder: str, filename: str) -> str | None:
    """The family whose smoke set holds this file (a file shared by families gives the first)."""
    for name, files in FAMILIES.items():
        if any(f.folder == folder and f.filename == filename for f in files):
            return name
    return None


def families_for(required: Mapping[str, Sequence[str]]) -> set[str] | None:
    """The families a graph's model files (`node_catalog.files.required_files`) need, or None when one of its
    files has no smoke weights at all (the graph cannot be run on the smoke set). LoRAs add no family: a
    smoke LoRA of any name is built for the model it patches (`smoke_loras`), which counts here."""
    out: set[str] = set()
    for folder, names in required.items():
        if folder in ("input", "loras"):
            continue
        for filename in names:
            family = family_of(_canonical_folder(folder), filename)
            if family is None:
                return None
            out.add(family)
    return out


def all_smoke(models_dir: Path, required: Mapping[str, Sequence[str]]) -> bool:
    """Every model file the graph names is a smoke-weight file in `models_dir` (input files ignored)."""
    return all(
        is_smoke_weights(models_dir / _canonical_folder(folder) / name)
        for folder, names in required.items()
        if folder != "input"
        for name in names
    )


_FOLDER_ALIASES = {"clip": "text_encoders", "unet": "diffusion_models"}


def _canonical_folder(folder: str) -> str:
    return _FOLDER_ALIASES.get(folder, folder)
