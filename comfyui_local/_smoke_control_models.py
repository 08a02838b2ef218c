"""SD1.5 ControlNet smoke weights (canny, depth, openpose, scribble: one architecture, four official
names), run by ComfyUI's Python. Imported only by `_smoke_weights_worker.py` (same folder, on its
`sys.path`).

A ControlNet is the input half of its base UNet plus a hint encoder and zero convolutions; ComfyUI detects
its configuration from its own keys (`model_detection.model_config_from_unet`) and feeds one residual per
UNet input block. So it is built from ComfyUI's `cldm.ControlNet` with the tiny SD1.5 UNet's configuration
(`_smoke_image_models.TINY_UNETS`), which makes its residuals fit the SD1.5 smoke checkpoint exactly, and its
768-wide cross-attention refuses SDXL's 2048-wide text context at run time, as a real SD1.5 ControlNet does.
The file uses the key layout of the official `control_v11*_fp16.safetensors` files (no prefix).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

ROLES = frozenset({"cn_sd15_canny", "cn_sd15_depth", "cn_sd15_openpose", "cn_sd15_scribble"})
FILE_DTYPES = dict.fromkeys(ROLES, "float16")
HINT_CHANNELS = 3  # an RGB hint image


def keep_in_stub(role: str, key: str) -> bool:
    """The whole ControlNet: small enough (like the tiny SD1.5 UNet it mirrors) to carry real values."""
    del role, key
    return True


def _images() -> Any:
    return importlib.import_module("_smoke_image_models")


def control_config() -> dict[str, Any]:
    config = dict(_images().TINY_UNETS["sd15_ckpt"])
    for key in ("out_channels", "transformer_depth_output"):
        config.pop(key)
    return {**config, "hint_channels": HINT_CHANNELS}


def describe(comfy: dict[str, Any], role: str) -> tuple[dict[str, Any], set[str]]:
    """(meta state dict under the file's key names, the names of its normalisation parameters)."""
    del role
    torch = comfy["torch"]
    cldm = importlib.import_module("comfy.cldm.cldm")
    module = cldm.ControlNet(
        **control_config(),
        **comfy["supported_models"].SD15.unet_extra_config,  # as the loader's detected config carries it
        dtype=torch.float16,
        device="meta",
        operations=comfy["ops"].disable_weight_init,
    )
    sd = dict(module.state_dict())
    detected = comfy["detection"].model_config_from_unet(sd, "", True)
    got = type(detected).__name__ if detected is not None else None
    if got != "SD15" or detected.unet_config["context_dim"] != 768:
        raise RuntimeError(f"sd15 controlnet: ComfyUI detects {got} {getattr(detected, 'unet_config', None)}")
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
