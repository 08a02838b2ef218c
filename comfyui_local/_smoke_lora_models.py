"""Smoke LoRAs, run by ComfyUI's Python. Imported only by `_smoke_weights_worker.py` (same folder, on its
`sys.path`).

A LoRA file has no architecture of its own: its keys name weights of the model it patches. So a smoke LoRA is
built for one base file of the smoke set (its role is `lora:<base role>:<file name>`, see
`smoke_families.smoke_lora`): the base is described as the worker describes it, ComfyUI's loader builds the
model for it on the `meta` device, and `comfy.lora.model_lora_keys_unet` gives the key map LoraLoader uses.
The file holds `lora_down`/`lora_up`/`alpha` triples (rank 4) under ComfyUI's generic key format
(`diffusion_model.<weight path>`) for up to `MAX_TARGETS` linear layers inside the model's repeated blocks
(input and output projections differ between models of one family, such as Flux dev and Fill), and no
text-encoder keys, so LoraLoader and LoraLoaderModelOnly both load every key it holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

PREFIX = "lora:"
RANK = 4
MAX_TARGETS = 32
# Bases loaded by CheckpointLoaderSimple (their diffusion model sits under this prefix in the file).
CHECKPOINT_PREFIX = "model.diffusion_model."
BLOCK_WORDS = ("blocks.", "layers.")


class _LoraRoles:
    """Every `lora:<base>:<name>` role (the names come from requests, so the set is open)."""

    def __contains__(self, role: object) -> bool:
        return isinstance(role, str) and role.startswith(PREFIX) and role.count(":") >= 2


ROLES = _LoraRoles()
FILE_DTYPES: dict[str, str] = {}  # open role set: see `file_dtype`
# The worker registers how it describes a base file: (role) -> meta state dict under the file's key names.
describe_base: Callable[[str], dict[str, Any]] | None = None
_MODELS: dict[str, Any] = {}


def file_dtype(role: str) -> str:
    del role
    return "float16"  # as most published LoRAs


def base_role(role: str) -> str:
    return role[len(PREFIX) :].split(":", 1)[0]


def keep_in_stub(role: str, key: str) -> bool:
    del role, key
    return True  # a few MiB at most: always real values


def _base_model(comfy: dict[str, Any], base: str) -> Any:
    """The BaseModel ComfyUI builds for the base file (meta device: only names and shapes matter)."""
    if base in _MODELS:
        return _MODELS[base]
    if describe_base is None:
        raise RuntimeError("the worker did not register how to describe a LoRA's base file")
    sd = describe_base(base)
    prefix = CHECKPOINT_PREFIX if any(k.startswith(CHECKPOINT_PREFIX) for k in sd) else ""
    model_config = comfy["detection"].model_config_from_unet(sd, prefix)
    if model_config is None:
        raise RuntimeError(f"LoRA base {base}: ComfyUI does not recognise its diffusion model")
    model = model_config.get_model(sd, prefix, device="meta")
    _MODELS[base] = model
    return model


def _targets(comfy: dict[str, Any], model: Any) -> list[tuple[str, tuple[int, int]]]:
    """(state-dict key without `.weight`, (out, in)) of the linear layers a smoke LoRA patches."""
    torch = comfy["torch"]
    found = [
        (f"diffusion_model.{name}", (int(mod.weight.shape[0]), int(mod.weight.shape[1])))
        for name, mod in model.diffusion_model.named_modules()
        if isinstance(mod, torch.nn.Linear)
        and getattr(mod, "weight", None) is not None
        and any(word in name for word in BLOCK_WORDS)
    ]
    if not found:
        raise RuntimeError("the base model has no linear layer inside its blocks to patch")
    step = max(1, -(-len(found) // MAX_TARGETS))  # spread over the depth: every block kind gets some
    return found[::step][:MAX_TARGETS]


def describe(comfy: dict[str, Any], role: str) -> tuple[dict[str, Any], set[str]]:
    """(meta state dict of the LoRA file, no normalisation parameters)."""
    torch = comfy["torch"]
    model = _base_model(comfy, base_role(role))
    key_map = comfy["lora"].model_lora_keys_unet(model, {})
    sd: dict[str, Any] = {}
    for key, (out_dim, in_dim) in _targets(comfy, model):
        if key_map.get(key) != f"{key}.weight":
            raise RuntimeError(f"{role}: ComfyUI's LoRA key map does not take {key}")
        sd[f"{key}.lora_down.weight"] = torch.empty(RANK, in_dim, device="meta")
        sd[f"{key}.lora_up.weight"] = torch.empty(out_dim, RANK, device="meta")
        sd[f"{key}.alpha"] = torch.tensor(float(RANK))  # a value, written as it is: scale alpha/rank = 1
    return sd, set()


class _NotLoaded(logging.Handler):
    """Collects ComfyUI's "lora key not loaded" warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.keys: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "lora key not loaded" in message or "NOT LOADED" in message:
            self.keys.append(message.rsplit(" ", 1)[-1])


def verify(
    comfy: dict[str, Any], role: str, files: dict[str, Path], written: dict[str, list[str]]
) -> dict[str, Any]:
    """{role: report}: the file loaded as LoraLoader loads it onto its base (key map, `load_lora`); every key
    must be taken and every patch must have its weight's shape."""
    torch, lora = comfy["torch"], comfy["lora"]
    path = files[role]
    model = _base_model(comfy, base_role(role))
    key_map = lora.model_lora_keys_unet(model, {})
    lora_sd = comfy["utils"].load_torch_file(str(path), safe_load=True)
    catcher = _NotLoaded()
    logging.getLogger().addHandler(catcher)
    try:
        patches = lora.load_lora(lora_sd, key_map)
    finally:
        logging.getLogger().removeHandler(catcher)
    weights = model.state_dict()
    problems = list(catcher.keys)
    for target, adapter in patches.items():
        up, down = adapter.weights[0], adapter.weights[1]
        if target not in weights or tuple(weights[target].shape) != (up.shape[0], down.shape[1]):
            problems.append(f"{target}: no weight of shape {(up.shape[0], down.shape[1])}")
    expected = sum(1 for k in written[role] if k.endswith(".lora_up.weight"))
    probe = sorted(lora_sd)[0]
    finite = all(bool(torch.isfinite(t.float()).all()) for t in lora_sd.values())
    return {
        role: {
            "loaded_as": f"LoRA for {base_role(role)} ({len(patches)} weights)",
            "missing": 0,
            "missing_sample": [],
            "unexpected": problems,
            "values_loaded": len(patches) == expected and finite and probe in set(written[role]),
        }
    }
