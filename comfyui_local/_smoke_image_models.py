"""Image-family smoke weights (SD1.5 and SDXL checkpoints, an ESRGAN upscaler), run by ComfyUI's Python.

Imported only by `_smoke_weights_worker.py` (same folder, so on the script's `sys.path`), never by the
gateway. Every shape comes from ComfyUI's (or spandrel's) own model classes built on the `meta` device;
checkpoint key names come from ComfyUI's own checkpoint saver (`BaseModel.state_dict_for_saving`, what
CheckpointSave writes), so the file is laid out exactly as ComfyUI expects to read it back.

The free choices are the tiny UNet configurations below. ComfyUI's detection matches a UNet to a model
family on a few fields only (`supported_models.*.unet_config`): SD1.5 fixes model_channels 320 and context
768 but not the depth, so one level with one res block is still SD1.5; SDXL also fixes `transformer_depth`
[0, 0, 2, 2, 10, 10] (three levels, two res blocks each, 24 transformer blocks) but not the channel
multipliers nor the output/middle transformers, so every level stays at 320 channels and the output side has
none. Detection is run on the result and must give the same config and family back.

SD 2.1 unCLIP-H (`sd21-unclip-h.ckpt`, a pickle, loaded by unCLIPCheckpointLoader) is matched on
model_channels 320, context 1024, linear transformer projections and a 2048-wide class embedding (the
OpenCLIP-H image embedding plus its noise level), so it gets the same one-level UNet; its OpenCLIP-H text
tower and ViT-H image tower are fixed (about 1B parameters): the file is always a stub, a torch zip carrying
the smoke marker record, whose omitted weights the local ComfyUI zero-fills like a marked safetensors file's.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any
from unittest import mock

# UNet fields ComfyUI's detection returns for every SD-style UNet.
_UNET_BASE = {
    "use_checkpoint": False,
    "image_size": 32,
    "use_spatial_transformer": True,
    "legacy": False,
    "in_channels": 4,
    "out_channels": 4,
    "model_channels": 320,
    "use_temporal_resblock": False,
    "use_temporal_attention": False,
}
TINY_UNETS: dict[str, dict[str, Any]] = {
    "sd15_ckpt": {
        **_UNET_BASE,
        "adm_in_channels": None,
        "num_res_blocks": [1],
        "channel_mult": [1],
        "transformer_depth": [1],
        "transformer_depth_output": [0, 0],
        "transformer_depth_middle": -1,
        "use_linear_in_transformer": False,
        "context_dim": 768,
    },
    "sdxl_ckpt": {
        **_UNET_BASE,
        "adm_in_channels": 2816,
        "num_classes": "sequential",
        "num_res_blocks": [2, 2, 2],
        "channel_mult": [1, 1, 1],
        "transformer_depth": [0, 0, 2, 2, 10, 10],
        "transformer_depth_output": [0] * 9,
        "transformer_depth_middle": -1,
        "use_linear_in_transformer": True,
        "context_dim": 2048,
    },
    "sd21_unclip_h": {
        **_UNET_BASE,
        "adm_in_channels": 2048,
        "num_classes": "sequential",
        "num_res_blocks": [1],
        "channel_mult": [1],
        "transformer_depth": [1],
        "transformer_depth_output": [0, 0],
        "transformer_depth_middle": -1,
        "use_linear_in_transformer": True,
        "context_dim": 1024,
    },
}
FAMILY_CLASSES = {"sd15_ckpt": "SD15", "sdxl_ckpt": "SDXL", "sd21_unclip_h": "SD21UnclipH"}
# The official checkpoints are stored in half precision.
FILE_DTYPES = {
    "sd15_ckpt": "float16",
    "sdxl_ckpt": "float16",
    "sd21_unclip_h": "float16",
    "esrgan_x4": "float32",
    "sd_vae": "float32",
}
ROLES = frozenset(FILE_DTYPES)
ALWAYS_STUB = frozenset({"sd21_unclip_h"})  # its fixed OpenCLIP-H towers: 2 GB in fp16
# The checkpoints whose tiny UNet is small enough to be written whole, with real values.
_WHOLE_UNETS = ("sd15_ckpt", "sd21_unclip_h")
# ESRGAN: spandrel reads filters, block count and scale from the keys; RealESRGAN_x4plus is 64 filters,
# 23 blocks, x4. One block of 16 filters is still an x4 RRDB network to spandrel.
TINY_ESRGAN = {"in_nc": 3, "out_nc": 3, "num_filters": 16, "num_blocks": 1, "scale": 4}

# What makes ComfyUI's CLIP vision loader build ViT-H (32 layers, 1280 wide), the unCLIP-H image tower.
_VIT_H_SHAPES = {
    "vision_model.encoder.layers.31.layer_norm1.weight": (1280,),
    "vision_model.post_layernorm.weight": (1280,),
}

# Keys a stub keeps whatever their size, because ComfyUI reads their shapes (or their presence) to choose
# the configuration: the VAE's z channels and depth, the UNet's levels, channel multipliers, context width,
# linear-vs-conv projections and class-embedding width.
_STUB_DETECTION = re.compile(
    r"^first_stage_model\.(decoder\.conv_in\.weight|post_quant_conv\.weight"
    r"|encoder\.down\.2\.downsample\.conv\.weight|decoder\.up\.3\.upsample\.conv\.weight)$"
    r"|^model\.diffusion_model\.(input_blocks\.\d+\.0\.(out_layers\.3\.weight|op\.weight)"
    r"|input_blocks\.\d+\.1\.(proj_in\.weight|transformer_blocks\.0\.attn2\.to_k\.weight)"
    r"|label_emb\.0\.0\.weight)$"
    r"|^embedder\.model\.visual\.vision_model\.encoder\.layers\.30\.layer_norm1\.weight$"  # ViT-H, not L/G
)


def keep_in_stub(role: str, key: str) -> bool:
    """Tensors a stub writes whatever their size: detection keys, the tiny SD1.5 UNet (small enough to be
    real) and the upscaler."""
    return (
        _STUB_DETECTION.match(key if role != "sd_vae" else f"first_stage_model.{key}") is not None
        or role == "esrgan_x4"
        or (role in _WHOLE_UNETS and key.startswith("model.diffusion_model."))
    )


def _norm_ids(module: Any, sd: dict[str, Any]) -> set[int]:
    """ids of the state-dict tensors owned by normalisation layers (they get identity values)."""
    out: set[int] = set()
    for prefix, sub in module.named_modules():
        if "norm" in type(sub).__name__.lower():
            for name, _ in sub.named_parameters(recurse=False):
                key = f"{prefix}.{name}" if prefix else name
                if key in sd:
                    out.add(id(sd[key]))
    return out


def describe(comfy: dict[str, Any], role: str) -> tuple[dict[str, Any], set[str]]:
    """(meta state dict under the file's key names, the names of its normalisation parameters)."""
    if role == "esrgan_x4":
        return _describe_esrgan(comfy)
    if role == "sd_vae":  # a VAE file of its own (vae-ft-mse): the checkpoint's VAE keys without prefix
        vae = _sd_vae(comfy)
        sd = dict(vae.state_dict())
        norm_ids = _norm_ids(vae, sd)
        return sd, {k for k, t in sd.items() if id(t) in norm_ids}
    return _describe_checkpoint(comfy, role)


def _model_config(comfy: dict[str, Any], role: str) -> Any:
    """ComfyUI's model config for the tiny UNet, after checking detection gives the same config back."""
    torch, detection = comfy["torch"], comfy["detection"]
    config = dict(TINY_UNETS[role])
    family = getattr(comfy["supported_models"], FAMILY_CLASSES[role])
    extra = {**family.unet_extra_config}
    unet = comfy["openaimodel"].UNetModel(
        **config, **extra, dtype=torch.float16, device="meta", operations=comfy["ops"].disable_weight_init
    )
    detected = detection.detect_unet_config(unet.state_dict(), "")
    if detected != config:
        raise RuntimeError(f"{role}: ComfyUI detects {detected}, built {config}")
    model_config = detection.model_config_from_unet_config(detected, unet.state_dict())
    got = type(model_config).__name__ if model_config is not None else None
    if got != FAMILY_CLASSES[role]:
        raise RuntimeError(f"{role}: ComfyUI would load it as {got}, not {FAMILY_CLASSES[role]}")
    model_config.set_inference_dtype(torch.float16, None)
    return model_config


def _sd_vae(comfy: dict[str, Any]) -> Any:
    """The SD/SDXL VAE (AutoencoderKL, 4 latent channels) ComfyUI builds for a checkpoint's VAE keys."""
    torch = comfy["torch"]

    def empty(*shape: int) -> Any:
        return torch.empty(*shape, device="meta")

    # Only these keys' presence and dim 1 choose the config; the rest is fixed by ComfyUI.
    probe = {
        "decoder.conv_in.weight": empty(512, 4, 3, 3),
        "post_quant_conv.weight": empty(4, 4, 1, 1),
        "encoder.down.2.downsample.conv.weight": empty(1),
        "decoder.up.3.upsample.conv.weight": empty(1),
    }
    return importlib.import_module("_smoke_tensors").probed_vae(comfy, probe)


def _describe_checkpoint(comfy: dict[str, Any], role: str) -> tuple[dict[str, Any], set[str]]:
    torch = comfy["torch"]
    model_config = _model_config(comfy, role)
    model = model_config.get_model({}, "", device="meta")
    text_encoder = model_config.clip_target().clip(device="meta", dtype=torch.float16)
    vae = _sd_vae(comfy)
    parts = [model.diffusion_model, text_encoder, vae]
    if model_config.clip_vision_prefix is not None:  # unCLIP: the image tower rides in the checkpoint
        parts.append(_clip_vision_h(comfy))
    sds = [part.state_dict() for part in parts]
    norm_ids: set[int] = set()
    for part, part_sd in zip(parts, sds, strict=True):
        norm_ids |= _norm_ids(part, part_sd)
    # ComfyUI's own saver names every key; it reads the UNet's state dict itself, so hand it ours (the
    # tensor identities carry the norm marks through its renames).
    with mock.patch.object(model.diffusion_model, "state_dict", lambda *a, **k: sds[0]):
        full = model.state_dict_for_saving(*sds[1:])
    norms = {k for k, t in full.items() if id(t) in norm_ids}
    return dict(full), norms


def _clip_vision_h(comfy: dict[str, Any]) -> Any:
    """The ViT-H image tower of an unCLIP-H checkpoint (ComfyUI picks clip_vision_config_h.json for it)."""
    vision = importlib.import_module("_smoke_vision_models")
    return vision.clip_vision_model(comfy, "clip_vision_config_h.json", comfy["torch"].float16)


def _describe_esrgan(comfy: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    torch = comfy["torch"]
    with torch.device("meta"):
        model = comfy["esrgan"].ESRGAN(**TINY_ESRGAN)
    return dict(model.state_dict()), set()


def verify(
    comfy: dict[str, Any], role: str, files: dict[str, Path], written: dict[str, list[str]]
) -> dict[str, Any]:
    """{role: report} after loading the file as ComfyUI's loader node does (`_smoke_weights_worker.judge`)."""
    return {role: _verify_one(comfy, role, files[role], set(written[role]))}


def _verify_one(comfy: dict[str, Any], role: str, path: Path, file_keys: set[str]) -> dict[str, Any]:
    if role == "esrgan_x4":
        return _verify_esrgan(comfy, path, file_keys)
    if role == "sd_vae":
        tensors = importlib.import_module("_smoke_tensors")
        return _compare(comfy, path, *tensors.loaded_vae(comfy, role, path, file_keys, 4))
    # as CheckpointLoaderSimple does, or unCLIPCheckpointLoader (the image tower too) for an unCLIP checkpoint
    unclip = role in ALWAYS_STUB
    load = comfy["sd"].load_checkpoint_guess_config
    model, clip, vae, vision = load(str(path), output_vae=True, output_clip=True, output_clipvision=unclip)
    if clip is None or vae is None or (unclip and vision is None):
        raise RuntimeError(f"{role}: ComfyUI found no text encoder, VAE or image encoder in the checkpoint")
    vision_sd = vision.get_sd() if unclip else None
    if vision_sd is not None and any(
        tuple(getattr(vision_sd.get(key), "shape", ())) != shape for key, shape in _VIT_H_SHAPES.items()
    ):
        raise RuntimeError(f"{role}: the image encoder ComfyUI builds for the checkpoint is not ViT-H")
    loaded = model.model.state_dict_for_saving(clip.get_sd(), vae.get_sd(), vision_sd)
    loaded_as = type(model.model.model_config).__name__
    if loaded_as != FAMILY_CLASSES[role]:
        raise RuntimeError(f"{role}: ComfyUI loaded the checkpoint as {loaded_as}")
    return _compare(comfy, path, loaded, file_keys, loaded_as)


def _verify_esrgan(comfy: dict[str, Any], path: Path, file_keys: set[str]) -> dict[str, Any]:
    sd = comfy["utils"].load_torch_file(str(path), safe_load=True)
    descriptor = comfy["spandrel"].ModelLoader().load_from_state_dict(sd)
    loaded_as = f"{descriptor.architecture.id} x{descriptor.scale}"
    if loaded_as != f"ESRGAN x{TINY_ESRGAN['scale']}":
        raise RuntimeError(f"esrgan_x4: spandrel loads the file as {loaded_as}")
    return _compare(comfy, path, descriptor.model.state_dict(), file_keys, loaded_as)


def _compare(
    comfy: dict[str, Any], path: Path, loaded: dict[str, Any], file_keys: set[str], loaded_as: str
) -> dict[str, Any]:
    torch = comfy["torch"]
    missing = sorted(set(loaded) - file_keys)
    unexpected = sorted(file_keys - set(loaded))
    on_disk = comfy["utils"].load_torch_file(str(path), safe_load=True)
    # A value check proves the loader really copied the file (not just matched names).
    probe = next((k for k in sorted(file_keys) if k in loaded and on_disk[k].numel() > 1), None)
    copied = probe is not None and bool(
        torch.allclose(on_disk[probe].float(), loaded[probe].float(), rtol=1e-2, atol=1e-3)
    )
    return {
        "loaded_as": loaded_as,
        "missing": len(missing),
        "missing_sample": missing[:5],
        "unexpected": unexpected,
        "values_loaded": copied,
    }
