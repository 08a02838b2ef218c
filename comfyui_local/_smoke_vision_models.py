"""Vision-conditioned smoke weights: Flux Redux with its SigLIP 384 image encoder, and the SD1.5 style
adapter with CLIP ViT-L/14; run by ComfyUI's Python. Imported only by `_smoke_weights_worker.py` (same folder,
on its `sys.path`).

`StyleModelLoader` builds a fixed model for each file (`comfy.sd.load_style_model`: `ReduxImageEncoder()`,
two linear layers, 65M parameters; `StyleAdapter(width=1024, context_dim=768, ...)`, 38M) and loads it
strictly, so both files are complete, with random values. The adapter's official name is a `.pth`: it is a
torch zip checkpoint whose marker is an extra record of the archive (as the ESRGAN file's); a pickle cannot
carry safetensors metadata, so the local ComfyUI would not zero anything it lacked, and it lacks nothing.
`CLIPVisionLoader` picks a fixed config json by key names and two shapes (`comfy.clip_vision`), so the
image encoders are stubs: SigLIP so400m-patch14-384 (27 layers x 1152, 729 positions) and ViT-L/14 (24 layers
x 1024, 257 positions) carry the keys that choose their config and every tensor under 64 KiB; the local
ComfyUI zeroes the rest (`_comfy_site/sitecustomize.py`). Their outputs are finite, not meaningful: with
the patch projection zero, the (random) position embeddings and biases are what reach the hidden states.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

# role -> the config json ComfyUI's clip_vision.load must pick for the file (and the one built here)
CLIP_VISIONS = {
    "sigclip_vision": "clip_vision_siglip_384.json",
    "clip_vision_vit_l": "clip_vision_config_vitl.json",
    "clip_vision_h": "clip_vision_config_h.json",  # Wan 2.1 image-to-video
}
# role -> the class comfy.sd.load_style_model builds for the file
STYLE_MODELS = {"flux_redux": "ReduxImageEncoder", "sd15_style": "StyleAdapter"}
ROLES = frozenset({*CLIP_VISIONS, *STYLE_MODELS})
ALWAYS_STUB = frozenset(CLIP_VISIONS)  # `--kind tiny` would write 0.3-0.4B parameters whole
# 16-bit storage: the loaders copy a file into their modules' own dtype (the style models' parameters are
# fp32 whatever the file holds), so this only halves the bytes of the two whole files against fp32.
FILE_DTYPES = {
    "flux_redux": "bfloat16",
    "sigclip_vision": "float16",
    "sd15_style": "float16",
    "clip_vision_vit_l": "float16",
    "clip_vision_h": "float16",
}
# What clip_vision.load reads: a layer 22 (not 30 or 47), layer 0's width (1152: SigLIP) and the number of
# positions (729: 384 px; 257: ViT-L at 224 px).
_DETECTION = frozenset(
    {
        "vision_model.encoder.layers.22.layer_norm1.weight",
        "vision_model.encoder.layers.0.layer_norm1.weight",
        "vision_model.embeddings.position_embedding.weight",
    }
)


def keep_in_stub(role: str, key: str) -> bool:
    """Style models are loaded strictly: whole. Image encoders: their detection keys."""
    return role in STYLE_MODELS or key in _DETECTION


def _images() -> Any:
    return importlib.import_module("_smoke_image_models")


def _clip_vision_config(comfy: dict[str, Any], config_name: str) -> dict[str, Any]:
    path = Path(comfy["clip_vision"].__file__).parent / config_name  # beside comfy/clip_vision.py
    config: dict[str, Any] = json.loads(path.read_text())
    return config


def clip_vision_model(comfy: dict[str, Any], config_name: str, dtype: Any) -> Any:
    """ComfyUI's CLIP vision model for one of its config jsons, on the meta device."""
    torch = comfy["torch"]
    config = _clip_vision_config(comfy, config_name)
    with torch.device("meta"):  # the projection layer is built without a device argument
        return comfy["clip_model"].CLIPVisionModelProjection(config, dtype, "meta", comfy["ops"].manual_cast)


def _style_model(role: str) -> Any:
    """The module load_style_model builds for this role's file, with its own fixed arguments."""
    if role == "flux_redux":
        return importlib.import_module("comfy.ldm.flux.redux").ReduxImageEncoder()
    adapter = importlib.import_module("comfy.t2i_adapter.adapter")
    return adapter.StyleAdapter(width=1024, context_dim=768, num_head=8, n_layes=3, num_token=8)


def describe(comfy: dict[str, Any], role: str) -> tuple[dict[str, Any], set[str]]:
    """(meta state dict under the file's key names, the names of its normalisation parameters)."""
    torch = comfy["torch"]
    if role in CLIP_VISIONS:
        module = clip_vision_model(comfy, CLIP_VISIONS[role], torch.float16)
    else:
        with torch.device("meta"):
            module = _style_model(role)
    sd = dict(module.state_dict())
    norm_ids = _images()._norm_ids(module, sd)
    return sd, {k for k, t in sd.items() if id(t) in norm_ids}


def verify(
    comfy: dict[str, Any], role: str, files: dict[str, Path], written: dict[str, list[str]]
) -> dict[str, Any]:
    """{role: report} after loading the file as its loader node does (`_smoke_weights_worker.judge`)."""
    path, keys, compare = files[role], set(written[role]), _images()._compare
    if role in CLIP_VISIONS:
        cv = comfy["clip_vision"].load(str(path))
        want = _clip_vision_config(comfy, CLIP_VISIONS[role])
        got = None if cv is None else (cv.image_size, type(cv.model).__name__, cv.model.multi_modal_projector)
        if got != (want["image_size"], "CLIPVisionModelProjection", None):
            raise RuntimeError(f"{role}: CLIPVisionLoader reads {got}, not {CLIP_VISIONS[role]}")
        loaded_as = f"{want['model_type']} {want['image_size']}px"
        return {role: compare(comfy, path, cv.model.state_dict(), keys, loaded_as)}
    style = comfy["sd"].load_style_model(str(path))
    loaded_as = type(style.model).__name__
    if loaded_as != STYLE_MODELS[role]:
        raise RuntimeError(f"{role}: StyleModelLoader builds {loaded_as}, not {STYLE_MODELS[role]}")
    return {role: compare(comfy, path, style.model.state_dict(), keys, loaded_as)}
