"""Lotus depth smoke weights (lotus-depth-d-v1-1, the UNet UNETLoader loads for LotusConditioning graphs), run
by ComfyUI's Python. Imported only by `_smoke_weights_worker.py` (same folder, on its `sys.path`).

The official file is the diffusers-layout UNet of jingheya/lotus-depth-d-v1-1 (SD2-shaped, 1024-wide text
context, a 4-wide task embedding). ComfyUI reaches `LotusD` only through its diffusers detection
(`model_detection.unet_config_from_diffusers_unet`), which matches the full SD2 layout (four levels,
transformer depths 1,1,1,1,1,1,0,0) and supplies the attention heads; a ComfyUI-layout UNet is detected as
LotusD too but then built without heads (an assertion in `UNetModel`), so the layout is not a free choice, and
neither is the size: the file is a stub of the full UNet under its diffusers key names (norms, biases and the
small tensors real, the rest zeroed by the local ComfyUI).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

ROLES = frozenset({"lotus_depth"})
ALWAYS_STUB = ROLES  # 0.87B parameters
FILE_DTYPES = {"lotus_depth": "float16"}
CONTEXT_DIM = 1024  # SD2's OpenCLIP-H width: LotusConditioning's fixed prompt embedding
TASK_DIM = 4  # model_base.Lotus's task embedding (sin and cos of [1, 0])
MODEL_CHANNELS = 320


def keep_in_stub(role: str, key: str) -> bool:
    """Detection reads the text-context width from every down block's cross-attention key projection."""
    del role
    return key.startswith("down_blocks.") and key.endswith("attn2.to_k.weight")


def _images() -> Any:
    return importlib.import_module("_smoke_image_models")


def _model_config(comfy: dict[str, Any]) -> Any:
    """ComfyUI's LotusD config, from its diffusers detection over the keys that detection reads."""
    torch, detection = comfy["torch"], comfy["detection"]

    def empty(*shape: int) -> Any:
        return torch.empty(*shape, device="meta")

    probe = {
        "conv_in.weight": empty(MODEL_CHANNELS, 4, 3, 3),
        "class_embedding.linear_1.weight": empty(MODEL_CHANNELS * 4, TASK_DIM),
        **{
            f"down_blocks.{i}.attentions.{a}.transformer_blocks.0.attn2.to_k.weight": empty(
                MODEL_CHANNELS, CONTEXT_DIM
            )
            for i in range(3)
            for a in range(2)
        },
        **{f"down_blocks.3.resnets.{r}.conv1.weight": empty(1) for r in range(2)},
    }
    model_config = detection.model_config_from_diffusers_unet(probe)
    got = type(model_config).__name__ if model_config is not None else None
    if got != "LotusD":
        raise RuntimeError(f"lotus_depth: ComfyUI's diffusers detection gives {got}, not LotusD")
    return model_config


def _diffusers_names(comfy: dict[str, Any], model_config: Any) -> dict[str, str]:
    """ComfyUI's own key map, diffusers name -> its UNet's name (what UNETLoader renames the file's keys by).
    The map names the label embedding twice (SDXL's `add_embedding`, `class_embedding`): Lotus has the
    latter, the one the diffusers detection reads."""
    names = comfy["utils"].unet_to_diffusers(model_config.unet_config)
    return {d: k for d, k in names.items() if not d.startswith("add_embedding.")}


def describe(comfy: dict[str, Any], role: str) -> tuple[dict[str, Any], set[str]]:
    """(meta state dict under the file's key names, the names of its normalisation parameters)."""
    torch = comfy["torch"]
    model_config = _model_config(comfy)
    model_config.set_inference_dtype(torch.float16, None)
    unet = model_config.get_model({}, "", device="meta").diffusion_model
    ldm = dict(unet.state_dict())
    names = _diffusers_names(comfy, model_config)
    unnamed = sorted(set(ldm) - set(names.values()))
    if unnamed:
        raise RuntimeError(f"{role}: ComfyUI has no diffusers name for {unnamed[:5]}")
    sd = {d: ldm[k] for d, k in names.items() if k in ldm}
    detected = comfy["detection"].model_config_from_diffusers_unet(sd)
    if type(detected).__name__ != "LotusD" or _shape(detected) != _shape(model_config):
        raise RuntimeError(f"{role}: ComfyUI detects {getattr(detected, 'unet_config', None)} from the file")
    norm_ids = _images()._norm_ids(unet, ldm)
    return sd, {k for k, t in sd.items() if id(t) in norm_ids}


def _shape(model_config: Any) -> dict[str, Any]:
    return {k: v for k, v in model_config.unet_config.items() if k != "dtype"}  # dtype: the runtime's choice


def verify(
    comfy: dict[str, Any], role: str, files: dict[str, Path], written: dict[str, list[str]]
) -> dict[str, Any]:
    """{role: report} after loading the file as UNETLoader does (`_smoke_weights_worker.judge`)."""
    path = files[role]
    patcher = comfy["sd"].load_diffusion_model(str(path))
    model = patcher.model
    loaded_as = f"{type(model.model_config).__name__}/{type(model).__name__}"
    if loaded_as != "LotusD/Lotus":
        raise RuntimeError(f"{role}: UNETLoader loads the file as {loaded_as}")
    # Compared under the file's names: the loader renamed them by this same map.
    to_file = {k: d for d, k in _diffusers_names(comfy, model.model_config).items()}
    loaded = {to_file.get(k, k): t for k, t in model.diffusion_model.state_dict().items()}
    return {role: _images()._compare(comfy, path, loaded, set(written[role]), loaded_as)}
