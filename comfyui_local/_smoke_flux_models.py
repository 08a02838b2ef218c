"""Flux.1 smoke weights (the diffusion model, its 16-channel VAE and the T5-XXL text encoder), run by
ComfyUI's Python. Imported only by `_smoke_weights_worker.py` (same folder, on the script's `sys.path`).

Nothing here can be tiny: ComfyUI's Flux detection fixes 24 heads and a head size of sum(axes_dim) = 128, so
the width is 3072 whatever the file says; only the block counts are free (one double and one single block,
about 0.5B parameters instead of 12B). T5-XXL (4.7B) and the VAE are fixed by ComfyUI. So every file is a
stub: it carries the tensors ComfyUI's detection reads and every tensor under 64 KiB, and the local ComfyUI
sets the rest to zeros (`_comfy_site/sitecustomize.py`). CLIP-L is the HunyuanVideo set's `clip_l` file.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

# Diffusion models: role -> (in channels ComfyUI reads from img_in, the class it must detect). Fill adds the
# masked image and mask (16 + 16 + 64 channels); Kontext has dev's layout (its reference images are tokens).
DITS = {"flux_dit": (16, "Flux"), "flux_fill": (96, "FluxInpaint"), "flux_kontext": (16, "Flux")}
ROLES = frozenset({*DITS, "flux_vae", "t5xxl"})
ALWAYS_STUB = ROLES - {"flux_vae"}  # `--kind tiny` would write them whole: 1 GB per DiT, 9 GB of T5
# flux1-dev and ae ship in bf16 / fp32, t5xxl_fp16 in fp16.
FILE_DTYPES = {**dict.fromkeys(DITS, "bfloat16"), "flux_vae": "float32", "t5xxl": "float16"}
TINY_FLUX = {"depth": 1, "depth_single_blocks": 1}
HIDDEN = 3072  # fixed: 24 heads x 128
# What detection reads: img_in (width, in channels), vector_in (pooled CLIP-L width), guidance_in (dev, not
# schnell); the VAE's z channels; T5's dtype key (small anyway).
_DETECTION = {
    **dict.fromkeys(
        DITS, frozenset({"img_in.weight", "vector_in.in_layer.weight", "guidance_in.in_layer.weight"})
    ),
    "flux_vae": {"decoder.conv_in.weight", "encoder.down.2.downsample.conv.weight"},
    "t5xxl": {"encoder.final_layer_norm.weight"},
}


def keep_in_stub(role: str, key: str) -> bool:
    return key in _DETECTION[role] or key == "decoder.up.3.upsample.conv.weight"


def _images() -> Any:
    return importlib.import_module("_smoke_image_models")


def _tensors() -> Any:
    return importlib.import_module("_smoke_tensors")


def describe(comfy: dict[str, Any], role: str) -> tuple[dict[str, Any], set[str]]:
    """(meta state dict under the file's key names, the names of its normalisation parameters)."""
    if role in DITS:
        module = _flux_dit(comfy, *DITS[role])
    elif role == "flux_vae":
        module = _flux_vae(comfy)
    else:
        sd3_clip = importlib.import_module("comfy.text_encoders.sd3_clip")
        module = sd3_clip.T5XXLModel(device="meta", dtype=comfy["torch"].float16).transformer
    sd = dict(module.state_dict())
    norm_ids = _images()._norm_ids(module, sd)
    return sd, {k for k, t in sd.items() if id(t) in norm_ids}


def _flux_dit(comfy: dict[str, Any], in_channels: int, want_class: str) -> Any:
    torch = comfy["torch"]

    def empty(*shape: int) -> Any:
        return torch.empty(*shape, device="meta")

    probe = {
        "double_blocks.0.img_attn.norm.key_norm.scale": empty(128),
        "img_in.weight": empty(HIDDEN, in_channels * 4),  # x 2x2 patch
        "vector_in.in_layer.weight": empty(HIDDEN, 768),
        "guidance_in.in_layer.weight": empty(HIDDEN, 256),
        **{f"double_blocks.{i}.img_mod.lin.weight": empty(1) for i in range(TINY_FLUX["depth"])},
        **{f"single_blocks.{i}.linear1.weight": empty(1) for i in range(TINY_FLUX["depth_single_blocks"])},
    }
    return _tensors().detected_model(comfy, "flux_dit", probe, "comfy.ldm.flux.model", "Flux", want_class)


def _flux_vae(comfy: dict[str, Any]) -> Any:
    """The Flux VAE: SD's AutoencoderKL layout with 16 latent channels and no quant convs."""
    torch = comfy["torch"]
    probe = {
        "decoder.conv_in.weight": torch.empty(512, 16, 3, 3, device="meta"),
        "encoder.down.2.downsample.conv.weight": torch.empty(1, device="meta"),
        "decoder.up.3.upsample.conv.weight": torch.empty(1, device="meta"),
    }
    return _tensors().probed_vae(comfy, probe)


def verify(
    comfy: dict[str, Any], role: str, files: dict[str, Path], written: dict[str, list[str]]
) -> dict[str, Any]:
    """{role: report} after loading the file as ComfyUI's loader node does (`_smoke_weights_worker.judge`)."""
    sd_mod, compare = comfy["sd"], _images()._compare
    path, keys = files[role], set(written[role])
    if role in DITS:
        return {role: compare(comfy, path, *_tensors().loaded_dit(comfy, path, keys))}
    if role == "flux_vae":
        return {role: compare(comfy, path, *_tensors().loaded_vae(comfy, role, path, keys, 16))}
    if "clip_l" not in files:
        raise RuntimeError("t5xxl: checked with DualCLIPLoader(flux), which needs the clip_l file too")
    clip = sd_mod.load_clip(ckpt_paths=[str(files["clip_l"]), str(path)], clip_type=sd_mod.CLIPType.FLUX)
    te = clip.cond_stage_model
    loaded_as = type(te).__name__
    return {role: compare(comfy, path, te.t5xxl.transformer.state_dict(), keys, loaded_as)}
