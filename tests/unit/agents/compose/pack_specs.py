"""Hand-written `/object_info` entries of custom node packs, added to the bundled snapshot in tests."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from node_catalog import Catalog


def _node(name: str, required: dict[str, Any], outputs: list[tuple[str, str]], module: str) -> dict[str, Any]:
    return {
        "input": {"required": required},
        "input_order": {"required": list(required)},
        "output": [t for _, t in outputs],
        "output_name": [n for n, _ in outputs],
        "output_is_list": [False] * len(outputs),
        "name": name,
        "display_name": name,
        "description": "",
        "python_module": f"custom_nodes.{module}",
        "category": module,
        "output_node": False,
    }


_INT = ["INT", {"default": 1, "min": 0, "max": 10000}]
_FLOAT = ["FLOAT", {"default": 0.5, "min": 0.0, "max": 100.0}]
_BOOL = ["BOOLEAN", {"default": True}]

PACKS: dict[str, dict[str, Any]] = {
    "RIFE VFI": _node(
        "RIFE VFI",
        {
            "ckpt_name": [["rife47.pth", "rife49.pth"], {}],
            "frames": ["IMAGE"],
            "clear_cache_after_n_frames": ["INT", {"default": 10, "min": 1, "max": 1000}],
            "multiplier": ["INT", {"default": 2, "min": 1, "max": 16}],
            "fast_mode": _BOOL,
            "ensemble": _BOOL,
            "scale_factor": [[0.25, 0.5, 1.0, 2.0, 4.0], {"default": 1.0}],
        },
        [("IMAGE", "IMAGE")],
        "ComfyUI-Frame-Interpolation",
    ),
    "UltralyticsDetectorProvider": _node(
        "UltralyticsDetectorProvider",
        {"model_name": [["bbox/face_yolov8m.pt", "segm/person_yolov8m-seg.pt"], {}]},
        [("BBOX_DETECTOR", "BBOX_DETECTOR"), ("SEGM_DETECTOR", "SEGM_DETECTOR")],
        "ComfyUI-Impact-Subpack",
    ),
    "FaceDetailer": _node(
        "FaceDetailer",
        {
            "image": ["IMAGE"],
            "model": ["MODEL"],
            "clip": ["CLIP"],
            "vae": ["VAE"],
            "guide_size": ["FLOAT", {"default": 512, "min": 64, "max": 8192}],
            "seed": ["INT", {"default": 0, "min": 0, "max": 2**64 - 1}],
            "steps": ["INT", {"default": 20, "min": 1, "max": 10000}],
            "cfg": ["FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0}],
            "positive": ["CONDITIONING"],
            "negative": ["CONDITIONING"],
            "denoise": ["FLOAT", {"default": 0.5, "min": 0.0001, "max": 1.0}],
            "bbox_detector": ["BBOX_DETECTOR"],
        },
        [("image", "IMAGE"), ("cropped_refined", "IMAGE"), ("mask", "MASK")],
        "ComfyUI-Impact-Pack",
    ),
    "SAMModelLoader (segment anything)": _node(
        "SAMModelLoader (segment anything)",
        {"model_name": [["sam_vit_h (2.56GB)", "sam_vit_b (375MB)"], {}]},
        [("SAM_MODEL", "SAM_MODEL")],
        "comfyui_segment_anything",
    ),
    "GroundingDinoModelLoader (segment anything)": _node(
        "GroundingDinoModelLoader (segment anything)",
        {"model_name": [["GroundingDINO_SwinT_OGC (694MB)"], {}]},
        [("GROUNDING_DINO_MODEL", "GROUNDING_DINO_MODEL")],
        "comfyui_segment_anything",
    ),
    "GroundingDinoSAMSegment (segment anything)": _node(
        "GroundingDinoSAMSegment (segment anything)",
        {
            "sam_model": ["SAM_MODEL"],
            "grounding_dino_model": ["GROUNDING_DINO_MODEL"],
            "image": ["IMAGE"],
            "prompt": ["STRING", {}],
            "threshold": _FLOAT,
        },
        [("IMAGE", "IMAGE"), ("MASK", "MASK")],
        "comfyui_segment_anything",
    ),
    "DWPreprocessor": _node(
        "DWPreprocessor",
        {
            "image": ["IMAGE"],
            "detect_hand": [["enable", "disable"], {}],
            "detect_body": [["enable", "disable"], {}],
            "detect_face": [["enable", "disable"], {}],
            "resolution": ["INT", {"default": 512, "min": 64, "max": 16384}],
            "bbox_detector": [["yolox_l.onnx", "None"], {}],
            "pose_estimator": [["dw-ll_ucoco_384_bs5.torchscript.pt", "dw-ll_ucoco_384.onnx"], {}],
        },
        [("IMAGE", "IMAGE"), ("POSE_KEYPOINT", "POSE_KEYPOINT")],
        "comfyui_controlnet_aux",
    ),
    "DepthAnythingV2Preprocessor": _node(
        "DepthAnythingV2Preprocessor",
        {
            "image": ["IMAGE"],
            "ckpt_name": [["depth_anything_v2_vitl.pth", "depth_anything_v2_vits.pth"], {}],
            "resolution": ["INT", {"default": 512, "min": 64, "max": 16384}],
        },
        [("IMAGE", "IMAGE")],
        "comfyui_controlnet_aux",
    ),
}


def bundled_object_info() -> dict[str, Any]:
    text = resources.files("node_catalog").joinpath("data/object_info.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def catalog_with(*names: str, extra: dict[str, Any] | None = None) -> Catalog:
    """The bundled snapshot plus the named pack nodes (all of them when none is named)."""
    data = bundled_object_info()
    for name in names or tuple(PACKS):
        data[name] = PACKS[name]
    data.update(extra or {})
    return Catalog.from_object_info(data)
