"""Makes the tensors a smoke-weight file leaves out exact zeros in the local ComfyUI (run by ComfyUI's Python
at start-up, before main.py, because this folder is on its PYTHONPATH; see `comfyui_local.process.comfy_env`).

Why: a stub file omits a model's large tensors. ComfyUI builds its modules with `torch.empty` (its ops skip
weight init) and loads a file non-strictly, so an omitted weight keeps whatever bytes the allocator gave it.
MALLOC_MMAP_THRESHOLD_ does not make those zero: glibc serves a request of any size from free heap chunks
before it considers mmap (the threshold only chooses between growing the heap and mmap). Once one family's
models had been freed, the next family's omitted weights were stale heap bytes and its frames came out NaN.

What: `comfy.utils.load_torch_file` marks the tensors of a file whose safetensors metadata carries the smoke
marker (or, for a torch zip checkpoint such as a `.ckpt`, whose marker record the smoke writer added); a
`load_state_dict` given marked tensors then sets each parameter the file lacked to zeros:
small ones in place, large ones to a fresh anonymous mapping (zero pages: no memory until written, so the
stubbed 8B Llama still costs next to nothing). A strict load (ModelPatchLoader's) accepts what a marked file
omits but still fails on a key the module lacks. Real model files (no marker) are never touched.
A Linear layer whose weight was set to zeros this way answers without its matrix product: `x @ 0 + b` is `b`
(and NaN where a row of `x` holds NaN or inf, as the product would give). That is the same output, but a
stubbed 8B Llama, Qwen2.5-VL or UMT5 encodes a prompt in about a second instead of minutes of multiplying
zeros. Once anything replaces the weight (a LoRA patch, a cast) or hooks it, the layer computes as usual.
Only the standard library and, once ComfyUI imports it, torch: this runs outside the gateway's environment.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import json
import logging
import mmap
import sys
import zipfile
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

MARKER = "comfy_gateway_smoke_weights"  # as written by _smoke_weights_worker.py
TENSOR_MARK = "_comfy_gateway_smoke"
PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")  # names ComfyUI reads with torch.load
MAX_MARKER_BYTES = 64 * 1024
# On a Linear layer whose weight is our zero tensor: that tensor's data pointer (the weight still being it).
ZERO_WEIGHT = "_comfy_gateway_zero_weight"
# Below this a zero tensor is written in place; above it, mapped lazily (zero pages cost no memory).
LAZY_BYTES = 1 << 20
log = logging.getLogger("comfy_gateway.smoke_weights")


def is_smoke_metadata(metadata: object) -> bool:
    return isinstance(metadata, dict) and metadata.get(MARKER) == "1"


def zeros_like(torch: Any, tensor: Any) -> Any:
    """A zero tensor of the same shape and dtype on the CPU; large ones backed by untouched zero pages."""
    nbytes = tensor.numel() * tensor.element_size()
    if nbytes < LAZY_BYTES or tensor.device.type != "cpu":
        return torch.zeros_like(tensor)
    # Private: a shared anonymous mapping is shmem, whose pages are allocated on first read. torch keeps the
    # mapping alive as long as the tensor lives.
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return torch.frombuffer(buf, dtype=torch.uint8).view(tensor.dtype).view(tensor.shape)


def zero_missing(torch: Any, module: Any, missing: Iterable[str]) -> tuple[int, int]:
    """Set the missing parameters of `module` to zeros; (count, bytes). Missing buffers keep the value their
    constructor gave them (position ids and the like are real values, not uninitialised memory)."""
    params = dict(module.named_parameters())
    count = nbytes = 0
    with torch.no_grad():
        for key in missing:
            param = params.get(key)
            if param is None:
                continue
            param.data = zeros_like(torch, param.data)
            count += 1
            nbytes += param.numel() * param.element_size()
            if key.endswith(".weight"):
                mark_zero_linear(torch, module, key.removesuffix(".weight"))
    return count, nbytes


def mark_zero_linear(torch: Any, module: Any, prefix: str) -> None:
    """Let the Linear layer at `prefix` skip its product while its weight is the zero tensor just set."""
    try:
        layer = module.get_submodule(prefix)
    except AttributeError:
        return
    if isinstance(layer, torch.nn.Linear):
        patch_linear_class(type(layer))
        setattr(layer, ZERO_WEIGHT, layer.weight.data_ptr())


def patch_linear_class(cls: type) -> None:
    """Wrap `cls.forward` once (ComfyUI's ops classes each define their own): a marked layer answers from its
    bias alone; every other layer, and a marked one whose weight was replaced or hooked, runs `forward`."""
    original = cls.__dict__.get("forward") or getattr(cls, "forward")  # noqa: B009
    if getattr(original, ZERO_WEIGHT, False):
        return

    @functools.wraps(original)
    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        ptr = getattr(self, ZERO_WEIGHT, None)
        if (
            ptr is None
            or len(args) != 1
            or kwargs
            or self.weight.data_ptr() != ptr
            or getattr(self, "weight_function", None)
            or getattr(self, "bias_function", None)
            or not same_product_shape(self, args[0])
        ):
            return original(self, *args, **kwargs)
        return zero_product(self, args[0])

    setattr(forward, ZERO_WEIGHT, True)
    cls.forward = forward  # type: ignore[attr-defined]


def same_product_shape(layer: Any, x: Any) -> bool:
    """The product would succeed: an input of another width, or of another dtype where ComfyUI does not cast
    the weight to it, goes to the real `forward`, which fails as it always has (a smoke run must still catch a
    graph that wires the wrong encoder into a model)."""
    weight = layer.weight
    if getattr(x, "ndim", 0) < 1 or x.shape[-1] != weight.shape[1]:
        return False
    return bool(x.dtype == weight.dtype or getattr(layer, "comfy_cast_weights", False))


def zero_product(layer: Any, x: Any) -> Any:
    """What `layer(x)` gives when the layer's weight is all zeros, without multiplying by it."""
    torch: Any = importlib.import_module("torch")
    out = x.new_zeros((*x.shape[:-1], layer.weight.shape[0]))
    if layer.bias is not None:
        out = out + layer.bias.to(device=x.device, dtype=x.dtype)
    # NaN * 0 and inf * 0 are NaN: the product would carry them into every output of the row. A row's largest
    # magnitude is NaN or inf exactly then (one pass, no copy of x).
    nonfinite = ~torch.isfinite(torch.linalg.vector_norm(x, ord=float("inf"), dim=-1, keepdim=True))
    if bool(nonfinite.any()):
        out = out.masked_fill(nonfinite, float("nan"))
    return out


def _marked(state_dict: Any) -> bool:
    values = state_dict.values() if hasattr(state_dict, "values") else ()
    return any(getattr(t, TENSOR_MARK, False) for t in values)


def patch_torch(torch: Any) -> None:
    """Wrap `torch.nn.Module.load_state_dict` once: loads of marked tensors zero the missing ones.

    A strict load of marked tensors (ModelPatchLoader loads strictly) is done non-strictly, so a stub may
    omit weights; a key the module does not have still fails as torch's strict load fails. Unmarked state
    dicts take torch's own path, unchanged."""
    original = torch.nn.Module.load_state_dict
    if getattr(original, TENSOR_MARK, False):
        return

    @functools.wraps(original)
    def load_state_dict(self: Any, state_dict: Any, *args: Any, **kwargs: Any) -> Any:
        marked = _marked(state_dict)
        strict = bool(args[0] if args else kwargs.get("strict", True))
        if marked and strict:
            args, kwargs = args[1:], {**kwargs, "strict": False}
        result = original(self, state_dict, *args, **kwargs)
        if marked and strict and result.unexpected_keys:
            raise RuntimeError(strict_error(type(self).__name__, result.unexpected_keys))
        missing: Sequence[str] = getattr(result, "missing_keys", ())
        if missing and marked:
            count, nbytes = zero_missing(torch, self, missing)
            if count:
                log.info(
                    "smoke weights: %d parameters of %s absent from the file set to zero (%.1f MiB)",
                    count,
                    type(self).__name__,
                    nbytes / 2**20,
                )
        return result

    setattr(load_state_dict, TENSOR_MARK, True)
    torch.nn.Module.load_state_dict = load_state_dict


def strict_error(module_name: str, unexpected: Sequence[str]) -> str:
    """torch's message for a strict load that met keys the module lacks."""
    keys = ", ".join(f'"{k}"' for k in unexpected)
    return f"Error(s) in loading state_dict for {module_name}:\n\tUnexpected key(s) in state_dict: {keys}. "


def pickle_marker(ckpt: Any) -> object:
    """The marker record the smoke writer adds to a torch zip checkpoint (`<archive>/<MARKER>.json`, read as
    `comfyui_local.smoke_weights.read_pickle_marker` reads it), or None: a pickle has no safetensors metadata.
    """
    if not isinstance(ckpt, str) or not ckpt.lower().endswith(PICKLE_SUFFIXES):
        return None
    try:
        with zipfile.ZipFile(ckpt) as zf:
            name = next((n for n in zf.namelist() if n.endswith(f"/{MARKER}.json")), None)
            if name is None or zf.getinfo(name).file_size > MAX_MARKER_BYTES:
                return None
            return json.loads(zf.read(name))
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, ValueError):
        return None


def patch_comfy_utils(utils: ModuleType) -> None:
    """Wrap ComfyUI's one file loader: tensors of a smoke-weight file carry `TENSOR_MARK`."""
    torch: Any = importlib.import_module("torch")  # ComfyUI's, not the gateway's (which has none)
    original = utils.load_torch_file

    @functools.wraps(original)
    def load_torch_file(ckpt: Any, *args: Any, **kwargs: Any) -> Any:
        positional = args[:2]  # (safe_load, device); return_metadata may come third or by name
        want_metadata = bool(args[2] if len(args) > 2 else kwargs.pop("return_metadata", False))
        sd, metadata = original(ckpt, *positional, return_metadata=True, **kwargs)
        if is_smoke_metadata(metadata) or is_smoke_metadata(pickle_marker(ckpt)):
            for tensor in sd.values():
                if isinstance(tensor, torch.Tensor):
                    setattr(tensor, TENSOR_MARK, True)
        return (sd, metadata) if want_metadata else sd

    utils.load_torch_file = load_torch_file  # type: ignore[attr-defined]
    patch_torch(torch)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches `comfy.utils` right after ComfyUI imports it (importing it earlier would read ComfyUI's
    command line before main.py enables argument parsing)."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "comfy.utils":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module: ModuleType) -> None:
            exec_module(module)
            patch_comfy_utils(module)

        spec.loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


if not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _PatchOnImport())
