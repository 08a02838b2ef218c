"""ControlNet smoke weights, run by ComfyUI's Python: the SD1.5 ones (canny, depth, openpose, scribble: one
architecture, four official names) and the SDXL canny one. Imported only by `_smoke_weights_worker.py` (same
folder, on its `sys.path`).

A ControlNet is the input half of its base UNet plus a hint encoder and zero convolutions; ComfyUI detects
its configuration from its own keys (`model_detection.model_config_from_unet`) and feeds one residual per
UNet input block. So it is built from ComfyUI's `cldm.ControlNet` with the tiny SD1.5 UNet's configuration
(`_smoke_image_models.TINY_UNETS`), which makes its residuals fit the SD1.5 smoke checkpoint exactly, and its
768-wide cross-attention refuses SDXL's 2048-wide text context at run time, as a real SD1.5 ControlNet does.
The file uses the key layout of the official `control_v11*_fp16.safetensors` files (no prefix).

The SDXL one (`controlnet-canny-sdxl-1.0.safetensors`) is built the same way from the tiny SDXL UNet's
configuration (2048-wide context, 2816-wide class embedding, 320 channels at every level), so its residuals
fit the SDXL smoke checkpoint. The official file is in diffusers layout, which ComfyUI detects only as one of
its fixed SDXL configs (all at channel multipliers 1,2,4: a UNet of 1.07B parameters instead of the smoke
checkpoint's 134M); the smoke file is in the ldm layout ComfyUI also loads (detected from its keys, like the
SD1.5 ones), and at 104M parameters it is a stub: the hint encoder, zero convolutions and the keys detection
reads carry values, the rest are zeros.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

SD15_ROLES = frozenset({"cn_sd15_canny", "cn_sd15_depth", "cn_sd15_openpose", "cn_sd15_scribble"})
SDXL_ROLES = frozenset({"cn_sdxl_canny"})
ROLES = SD15_ROLES | SDXL_ROLES
FILE_DTYPES = dict.fromkeys(ROLES, "float16")
HINT_CHANNELS = 3  # an RGB hint image
# role -> (the smoke checkpoint whose tiny UNet it mirrors, ComfyUI's family class, its context width)
BASES = {
    **dict.fromkeys(SD15_ROLES, ("sd15_ckpt", "SD15", 768)),
    **dict.fromkeys(SDXL_ROLES, ("sdxl_ckpt", "SDXL", 2048)),
}
_SDXL_KEEP = ("input_hint_block.", "zero_convs.", "middle_block_out.")


def keep_in_stub(role: str, key: str) -> bool:
    """An SD1.5 ControlNet whole (small enough, like the tiny SD1.5 UNet it mirrors, to carry real values);
    of the SDXL one the hint encoder, the zero convolutions and the keys ComfyUI's detection reads."""
    if role in SD15_ROLES:
        return True
    return key.startswith(_SDXL_KEEP) or _images().keep_in_stub("sdxl_ckpt", f"model.diffusion_model.{key}")


def _images() -> Any:
    return importlib.import_module("_smoke_image_models")


def control_config(role: str = "cn_sd15_canny") -> dict[str, Any]:
    config = dict(_images().TINY_UNETS[BASES[role][0]])
    for key in ("out_channels", "transformer_depth_output"):
        config.pop(key)
    return {**config, "hint_channels": HINT_CHANNELS}


def describe(comfy: dict[str, Any], role: str) -> tuple[dict[str, Any], set[str]]:
    """(meta state dict under the file's key names, the names of its normalisation parameters)."""
    torch = comfy["torch"]
    cldm = importlib.import_module("comfy.cldm.cldm")
    _, family, context = BASES[role]
    module = cldm.ControlNet(
        **control_config(role),
        **getattr(comfy["supported_models"], family).unet_extra_config,  # as the loader's config carries it
        dtype=torch.float16,
        device="meta",
        operations=comfy["ops"].disable_weight_init,
    )
    sd = dict(module.state_dict())
    detected = comfy["detection"].model_config_from_unet(sd, "", True)
    got = type(detected).__name__ if detected is not None else None
    if got != family or detected.unet_config["context_dim"] != context:
        raise RuntimeError(f"{role}: ComfyUI detects {got} {getattr(detected, 'unet_config', None)}")
    norm_ids = _images()._norm_ids(module, sd)
    return sd, {k for k, t in sd.items() if id(t) in norm_ids}


def verify(
    comfy: dict[str, Any], role: str, files: dict[str, Path], written: dict[str, list[str]]
) -> dict[str, Any]:
    """{role: report} after loading the file as ControlNetLoader does (`_smoke_weights_worker.judge`)."""
    controlnet = importlib.import_module("comfy.controlnet")
    path = files[role]
    cnet = controlnet.load_controlnet(str(path))
    if cnet is None or not hasattr(cnet, "control_model"):
        raise RuntimeError(f"{role}: ComfyUI does not load the file as a ControlNet")
    loaded_as = f"{type(cnet).__name__}/{type(cnet.control_model).__name__}"
    return {
        role: _images()._compare(comfy, path, cnet.control_model.state_dict(), set(written[role]), loaded_as)
    }
