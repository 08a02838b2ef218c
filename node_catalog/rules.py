"""Value checks beyond ComfyUI's own: each error carries `extra_info["origin"] = "gateway"`.

ComfyUI lets these through at queue time and then fails (or silently rounds) at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from node_catalog.search import closest_names
from node_catalog.specs import InputSpec, NodeSpec

GATEWAY = "gateway"

# HunyuanVideo latents: 16-pixel spatial grid (VAE 8x, patch 2x), 4x temporal compression plus frame one.
HUNYUAN_VIDEO_NODES = frozenset(
    {
        "EmptyHunyuanLatentVideo",
        "HunyuanImageToVideo",
        "HunyuanVideo15ImageToVideo",
        "EmptyHunyuanVideo15Latent",
    }
)
_SPATIAL_MULTIPLE = 16
_TEMPORAL_STRIDE = 4


def _err(type_: str, message: str, name: str, info: list[Any], val: Any, **extra: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "message": message,
        "details": name,
        "extra_info": {
            "input_name": name,
            "input_config": info,
            "received_value": val,
            **extra,
            "origin": GATEWAY,
        },
    }


def gateway_value_errors(
    spec: NodeSpec, ispec: InputSpec, val: Any, info: list[Any], options: Sequence[Any] | None
) -> list[dict[str, Any]]:
    """Errors for a widget value that passed ComfyUI's conversion, min/max and old-style COMBO checks.

    `options` are the backend's choices for a COMBO (None when unknown, e.g. model files of a snapshot).
    """
    name = ispec.name
    if (
        ispec.combo_style == "options"
        and options is not None
        and not ispec.extra.get("multiselect")
        and (options or ispec.model_folder)
    ):
        try:
            present = val in options
        except TypeError:
            present = False
        if not present:
            shown = str(list(options)) if len(options) <= 20 else f"(list of length {len(options)})"
            extra: dict[str, Any] = {"input_name": name, "input_config": info, "received_value": val}
            if ispec.model_folder:
                extra["model_folder"] = ispec.model_folder
                extra["closest"] = closest_names(str(val), [str(o) for o in options])
            return [
                {
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": f"{name}: '{val}' not in {shown}",
                    "extra_info": {**extra, "origin": GATEWAY},
                }
            ]
    if ispec.type != "INT" or isinstance(val, bool) or not isinstance(val, int):
        return []
    if spec.name in HUNYUAN_VIDEO_NODES:
        if name in ("width", "height") and val % _SPATIAL_MULTIPLE:
            return [
                _err(
                    "value_not_multiple_of_step",
                    f"Value {val} is not a multiple of {_SPATIAL_MULTIPLE} (HunyuanVideo latent grid)",
                    name,
                    info,
                    val,
                    step=_SPATIAL_MULTIPLE,
                    suggestion=max(_SPATIAL_MULTIPLE, round(val / _SPATIAL_MULTIPLE) * _SPATIAL_MULTIPLE),
                )
            ]
        if name == "length" and (val - 1) % _TEMPORAL_STRIDE:
            fixed = max(1, round((val - 1) / _TEMPORAL_STRIDE) * _TEMPORAL_STRIDE + 1)
            return [
                _err(
                    "invalid_video_length",
                    f"Length {val} is not 4k+1 frames (HunyuanVideo compresses time by 4)",
                    name,
                    info,
                    val,
                    suggestion=fixed,
                )
            ]
    step = ispec.step
    if step is not None and step > 1 and float(step).is_integer():
        base = int(ispec.min) if ispec.min is not None and float(ispec.min).is_integer() else 0
        if (val - base) % int(step):
            fixed = base + round((val - base) / step) * int(step)
            return [
                _err(
                    "value_not_multiple_of_step",
                    f"Value {val} is not on the step grid of {int(step)} starting at {base}",
                    name,
                    info,
                    val,
                    step=int(step),
                    suggestion=fixed,
                )
            ]
    return []
