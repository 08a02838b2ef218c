"""Qwen-Image smoke weights (the MMDiT, its edit variant, the Qwen2.5-VL 7B text encoder and the Wan 2.1
VAE), run by ComfyUI's Python. Imported only by `_smoke_weights_worker.py` (same folder, on `sys.path`).

ComfyUI's Qwen-Image detection reads only the input channels and the block count, so the MMDiT keeps its
fixed width (24 heads x 128) with one block instead of 60: a stub. The text encoder's config is fixed
(Qwen2.5-VL 7B, its vision tower included): a stub; its tokenizer ships with ComfyUI
(`comfy/text_encoders/qwen25_tokenizer`), so a stub runs. The VAE's width is read from the file
(`decoder.head.0.gamma`), so it is tiny and written whole in either kind.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

DITS = {"qwen_dit": "QwenImage", "qwen_edit_dit": "QwenImage"}
ROLES = frozenset({*DITS, "qwen_te", "qwen_vae"})
ALWAYS_STUB = frozenset({*DITS, "qwen_te"})  # 0.4B per DiT block, 8B of text encoder
# The official files are fp8; the smoke writer stores what ComfyUI computes in on CPU.
FILE_DTYPES = {**dict.fromkeys(DITS, "bfloat16"), "qwen_te": "bfloat16", "qwen_vae": "float32"}
TINY_DIT_LAYERS = 1
IN_CHANNELS = 64  # 16 latent channels x 2x2 patch
TINY_VAE_DIM = 16  # ComfyUI's Wan 2.1 VAE is 96 wide; any width is detected
_DETECTION = {
    **dict.fromkeys(DITS, frozenset({"img_in.weight", "txt_norm.weight"})),
    # detect_te_model reads the k_proj bias width (512: 7B), llama_detect the k_proj weight's dtype
    "qwen_te": frozenset({"model.layers.0.self_attn.k_proj.bias"}),
}


def keep_in_stub(role: str, key: str) -> bool:
    return role == "qwen_vae" or key in _DETECTION[role]


def _images() -> Any:
    return importlib.import_module("_smoke_image_models")


def _tensors() -> Any:
    return importlib.import_module("_smoke_tensors")


def describe(comfy: dict[str, Any], role: str) -> tuple[dict[str, Any], set[str]]:
    """(meta state dict under the file's key names, the names of its normalisation parameters)."""
    torch = comfy["torch"]
    if role in DITS:
        module = _qwen_dit(comfy, DITS[role])
    elif role == "qwen_vae":
        module = _qwen_vae(comfy)
    else:
        qwen_image = importlib.import_module("comfy.text_encoders.qwen_image")
        module = qwen_image.QwenImageTEModel(device="meta", dtype=torch.bfloat16).qwen25_7b.transformer
    sd = dict(module.state_dict())
    norm_ids = _images()._norm_ids(module, sd)
    return sd, {k for k, t in sd.items() if id(t) in norm_ids}


def _qwen_dit(comfy: dict[str, Any], want_class: str) -> Any:
    torch = comfy["torch"]
    probe = {
        "txt_norm.weight": torch.empty(3584, device="meta"),
        "img_in.weight": torch.empty(3072, IN_CHANNELS, device="meta"),
        **{
            f"transformer_blocks.{i}.img_mod.1.weight": torch.empty(1, device="meta")
            for i in range(TINY_DIT_LAYERS)
        },
    }
    return _tensors().detected_model(
        comfy, "qwen_dit", probe, "comfy.ldm.qwen_image.model", "QwenImageTransformer2DModel", want_class
    )


def _qwen_vae(comfy: dict[str, Any]) -> Any:
    """The Wan 2.1 VAE at a tiny width, built by ComfyUI's own VAE detection."""
    torch = comfy["torch"]
    probe = {
        "decoder.middle.0.residual.0.gamma": torch.empty(1, device="meta"),
        "decoder.head.0.gamma": torch.empty(TINY_VAE_DIM, 1, 1, 1, device="meta"),
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
    if role == "qwen_vae":
        return {role: compare(comfy, path, *_tensors().loaded_vae(comfy, role, path, keys, 16, "WanVAE"))}
    clip = sd_mod.load_clip(ckpt_paths=[str(path)], clip_type=sd_mod.CLIPType.QWEN_IMAGE)
    te = clip.cond_stage_model
    loaded_as = type(te).__name__
    if loaded_as != "QwenImageTEModel_":
        raise RuntimeError(f"qwen_te: CLIPLoader(qwen_image) builds {loaded_as}")
    return {role: compare(comfy, path, te.qwen25_7b.transformer.state_dict(), keys, loaded_as)}
