"""Qwen-Image smoke weights (the MMDiT, its edit variant, the Qwen2.5-VL 7B text encoder and the Wan 2.1
VAE), run by ComfyUI's Python. Imported only by `_smoke_weights_worker.py` (same folder, on `sys.path`).

ComfyUI's Qwen-Image detection reads only the input channels and the block count, so the MMDiT keeps its
fixed width (24 heads x 128) with one block instead of 60: a stub. The text encoder's config is fixed
(Qwen2.5-VL 7B, its vision tower included): a stub; its tokenizer ships with ComfyUI
(`comfy/text_encoders/qwen25_tokenizer`), so a stub runs. The VAE's width is read from the file
(`decoder.head.0.gamma`), so it is tiny and written whole in either kind.

The DiffSynth canny ControlNet (`model_patches/qwen_image_canny_diffsynth_controlnet.safetensors`) is a
ModelPatchLoader file: ComfyUI always builds `QwenImageBlockWiseControlNet` with 60 blocks of width 3072 and
loads it strictly, so it is a stub at that fixed size (1.1B parameters; the local ComfyUI zero-fills what a
marked file omits, strict loads included). Each block adds to the DiT's hidden states, so its width must be
the smoke DiT's (checked on load); the smoke DiT uses block 0 only.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any
from unittest import mock

DITS = {"qwen_dit": "QwenImage", "qwen_edit_dit": "QwenImage"}
CONTROL_PATCH = "qwen_canny_patch"
ROLES = frozenset({*DITS, "qwen_te", "qwen_vae", CONTROL_PATCH})
# 0.4B per DiT block, 8B of text encoder, 60 fixed blocks of 19M parameters per ControlNet
ALWAYS_STUB = frozenset({*DITS, "qwen_te", CONTROL_PATCH})
# The official files are fp8; the smoke writer stores what ComfyUI computes in on CPU.
FILE_DTYPES = {
    **dict.fromkeys(DITS, "bfloat16"),
    "qwen_te": "bfloat16",
    "qwen_vae": "float32",
    CONTROL_PATCH: "bfloat16",
}
TINY_DIT_LAYERS = 1
IN_CHANNELS = 64  # 16 latent channels x 2x2 patch
TINY_VAE_DIM = 16  # ComfyUI's Wan 2.1 VAE is 96 wide; any width is detected
_DETECTION = {
    **dict.fromkeys(DITS, frozenset({"img_in.weight", "txt_norm.weight"})),
    # detect_te_model reads the k_proj bias width (512: 7B), llama_detect the k_proj weight's dtype
    "qwen_te": frozenset({"model.layers.0.self_attn.k_proj.bias"}),
    # ModelPatchLoader: the y_rms key selects the class, img_in's width its additional input channels
    CONTROL_PATCH: frozenset({"controlnet_blocks.0.y_rms.weight", "img_in.weight"}),
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
    elif role == CONTROL_PATCH:
        module = _control_patch(comfy)
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


def _control_patch(comfy: dict[str, Any]) -> Any:
    """ComfyUI's canny ControlNet patch on the meta device (its blocks take no device argument: the context
    puts them there too)."""
    torch = comfy["torch"]
    with torch.device("meta"):
        return _model_patch_nodes().QwenImageBlockWiseControlNet(
            dtype=torch.bfloat16, operations=comfy["ops"].manual_cast
        )


def _model_patch_nodes() -> Any:
    return importlib.import_module("comfy_extras.nodes_model_patch")


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
    if role == CONTROL_PATCH:
        patch = loaded_control_patch(comfy, path)
        return {role: compare(comfy, path, patch.state_dict(), keys, type(patch).__name__)}
    clip = sd_mod.load_clip(ckpt_paths=[str(path)], clip_type=sd_mod.CLIPType.QWEN_IMAGE)
    te = clip.cond_stage_model
    loaded_as = type(te).__name__
    if loaded_as != "QwenImageTEModel_":
        raise RuntimeError(f"qwen_te: CLIPLoader(qwen_image) builds {loaded_as}")
    return {role: compare(comfy, path, te.qwen25_7b.transformer.state_dict(), keys, loaded_as)}


def loaded_control_patch(comfy: dict[str, Any], path: Path) -> Any:
    """The file loaded by ModelPatchLoader's own code (its strict load included), checked to fit the smoke
    DiT: as wide as its hidden states, a block for each of its blocks, no extra input channels (canny)."""
    nodes = _model_patch_nodes()
    with mock.patch.object(nodes.folder_paths, "get_full_path_or_raise", lambda _folder, _name: str(path)):
        (patcher,) = nodes.ModelPatchLoader().load_model_patch(path.name)
    patch = patcher.model
    if type(patch).__name__ != "QwenImageBlockWiseControlNet":
        raise RuntimeError(f"{CONTROL_PATCH}: ModelPatchLoader builds {type(patch).__name__}")
    dit = _qwen_dit(comfy, DITS["qwen_dit"])
    hidden, width = dit.img_in.weight.shape[0], patch.img_in.weight.shape[0]
    blocks, dit_blocks = len(patch.controlnet_blocks), len(dit.transformer_blocks)
    if width != hidden or blocks < dit_blocks or patch.additional_in_dim:
        raise RuntimeError(
            f"{CONTROL_PATCH}: {blocks} control blocks of width {width} (+{patch.additional_in_dim} input "
            f"channels) do not fit the smoke DiT's {dit_blocks} blocks of width {hidden}"
        )
    return patch
