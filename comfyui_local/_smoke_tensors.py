"""Tensor values and file writers of the smoke-weight worker, run by ComfyUI's Python (torch importable).

Imported only by `_smoke_weights_worker.py` (same folder, on the script's `sys.path`); never by the gateway.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

MARKER = "comfy_gateway_smoke_weights"
# torch dtype name -> safetensors dtype tag
ST_DTYPES = {"bfloat16": "BF16", "float16": "F16", "float32": "F32", "int64": "I64", "uint8": "U8"}


class WriteError(RuntimeError):
    """A tensor came out of another shape or dtype than its description."""


# --------------------------------------------------------------------------- values


def norm_params(module: Any) -> set[str]:
    """Names of parameters owned by normalisation layers (identity init keeps activations sane)."""
    out: set[str] = set()
    for prefix, sub in module.named_modules():
        if "norm" in type(sub).__name__.lower():
            for name, _ in sub.named_parameters(recurse=False):
                out.add(f"{prefix}.{name}" if prefix else name)
    return out


def make(torch: Any, name: str, meta: Any, *, seed: int, role: str, norms: set[str]) -> Any:
    return make_tensor(torch, meta, seed=seed, role=role, name=name, is_norm=name in norms)


def tensor_seed(seed: int, role: str, name: str) -> int:
    """One independent stream per tensor: values do not depend on which other tensors a file holds."""
    digest = hashlib.sha256(f"{seed}/{role}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def make_tensor(torch: Any, meta: Any, *, seed: int, role: str, name: str, is_norm: bool) -> Any:
    """Seeded values: norms 1 (weight/scale) or 0 (bias), weights N(0, 1/fan_in), other vectors N(0, 0.02).
    A tensor that already holds values (ComfyUI's saver adds CLIP position ids) is written as it is, once
    known to be finite: a module built off the meta device holds uninitialised memory, which loads cleanly
    and turns every output to NaN."""
    if not meta.is_meta:
        if meta.is_floating_point() and not bool(torch.isfinite(meta).all()):
            raise WriteError(f"{role}: {name} holds NaN or inf (a tensor built off the meta device?)")
        return meta
    shape = tuple(meta.shape)
    if is_norm:
        value = torch.zeros(shape) if name.endswith("bias") else torch.ones(shape)
        return value.to(meta.dtype)
    gen = torch.Generator().manual_seed(tensor_seed(seed, role, name))
    fan_in = 1
    for dim in shape[1:]:
        fan_in *= dim
    std = fan_in**-0.5 if len(shape) >= 2 else 0.02
    return (torch.randn(shape, generator=gen) * std).to(meta.dtype)


# --------------------------------------------------------------------------- safetensors, streamed


def write_streamed(
    path: Path,
    entries: list[tuple[str, Any]],
    make: Callable[[str, Any], Any],
    metadata: dict[str, str],
    torch: Any,
) -> int:
    """Write a safetensors file one tensor at a time (header first: shapes are known up front).

    Written to a temporary name and renamed, so a crash never leaves a half file under the official name.
    Returns the file size.
    """
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name, meta in entries:
        dtype = ST_DTYPES[str(meta.dtype).removeprefix("torch.")]
        nbytes = meta.numel() * meta.element_size()
        header[name] = {"dtype": dtype, "shape": list(meta.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # data starts 8-byte aligned, as safetensors itself writes it
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(tmp, "wb") as fh:
            fh.write(struct.pack("<Q", len(raw)))
            fh.write(raw)
            for name, meta in entries:
                tensor = make(name, meta).contiguous()
                if tuple(tensor.shape) != tuple(meta.shape) or tensor.dtype != meta.dtype:
                    raise WriteError(f"{name}: made {tensor.shape}/{tensor.dtype}, want {meta.shape}")
                fh.write(tensor.reshape(-1).view(torch.uint8).numpy().data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path.stat().st_size


PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
PICKLE_MARKER_RECORD = f"{MARKER}.json"


def write_pth(
    path: Path,
    entries: list[tuple[str, Any]],
    make: Callable[[str, Any], Any],
    metadata: dict[str, str],
    torch: Any,
) -> int:
    """A torch zip checkpoint (what a `.pth` name makes ComfyUI read with `torch.load`), for small models.

    The smoke marker is an extra JSON record in the zip (`<archive>/comfy_gateway_smoke_weights.json`): torch
    ignores records it does not know, and the gateway reads it with `zipfile` alone.
    """
    import zipfile

    sd = {name: make(name, meta).contiguous() for name, meta in entries}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.save(sd, tmp)
        with zipfile.ZipFile(tmp, "a") as zf:
            archive = zf.namelist()[0].split("/", 1)[0]
            zf.writestr(f"{archive}/{PICKLE_MARKER_RECORD}", json.dumps(metadata))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path.stat().st_size


def detected_model(
    comfy: dict[str, Any], role: str, probe: dict[str, Any], module_path: str, class_name: str, want: str
) -> Any:
    """A diffusion model built as ComfyUI would load it: its config detected from `probe` (the keys its
    detection reads), built on the meta device, then checked: ComfyUI detects that same config from the built
    state dict and picks the model class `want` for it (else the file would load as something else)."""
    torch, detection = comfy["torch"], comfy["detection"]
    config = detection.detect_unet_config(probe, "")
    model = getattr(importlib.import_module(module_path), class_name)
    module = model(**config, dtype=torch.bfloat16, device="meta", operations=comfy["ops"].disable_weight_init)
    sd = module.state_dict()
    detected = detection.detect_unet_config(sd, "")
    if detected != config:
        raise RuntimeError(f"{role}: ComfyUI detects {detected}, built {config}")
    model_config = detection.model_config_from_unet_config(detected, sd)
    got = type(model_config).__name__ if model_config is not None else None
    if got != want:
        raise RuntimeError(f"{role}: ComfyUI would load it as {got}, not {want}")
    return module


def probed_vae(comfy: dict[str, Any], probe: dict[str, Any]) -> Any:
    """The VAE module ComfyUI builds for a file holding `probe` (the keys whose presence and shapes its VAE
    detection reads; every other size is fixed by ComfyUI), on the meta device. Its load of the probe is
    meaningless on meta, so it is skipped."""
    torch = comfy["torch"]
    with (
        torch.device("meta"),
        mock.patch.object(torch.nn.Module, "load_state_dict", lambda *a, **k: ([], [])),
    ):
        return comfy["sd"].VAE(sd=probe).first_stage_model


def loaded_vae(
    comfy: dict[str, Any], role: str, path: Path, keys: set[str], channels: int, want: str | None = None
) -> tuple[dict[str, Any], set[str], str]:
    """A VAE file loaded as VAELoader does: (its state dict, the file's keys, the VAE class ComfyUI built);
    RuntimeError when ComfyUI reads other latent channels than `channels` (or a class other than `want`)."""
    vae = comfy["sd"].VAE(sd=comfy["utils"].load_torch_file(str(path)))
    loaded_as = type(vae.first_stage_model).__name__
    if vae.latent_channels != channels or (want is not None and loaded_as != want):
        raise RuntimeError(
            f"{role}: ComfyUI reads a {loaded_as} with {vae.latent_channels} latent channels, "
            f"not {want or 'a VAE'} with {channels}"
        )
    return vae.first_stage_model.state_dict(), keys, loaded_as


def loaded_dit(comfy: dict[str, Any], path: Path, keys: set[str]) -> tuple[dict[str, Any], set[str], str]:
    """A diffusion-model file loaded as UNETLoader does: (the model's state dict, the file's keys under the
    model's names, the model config class ComfyUI chose)."""
    patcher = comfy["sd"].load_diffusion_model(str(path))
    model_config = patcher.model.model_config
    loaded_keys = set(model_config.process_unet_state_dict({k: None for k in keys}))
    return patcher.model.diffusion_model.state_dict(), loaded_keys, type(model_config).__name__
