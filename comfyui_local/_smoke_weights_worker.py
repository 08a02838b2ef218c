"""Smoke-weight generator, run by ComfyUI's own Python (torch, safetensors and ComfyUI's code importable).

Never imported by the gateway: `smoke_weights.py` runs this file as a script and exchanges JSON with it
(a job on stdin, a report as the last line of stdout; ComfyUI's logging goes to stderr).

Every shape comes from ComfyUI's own model classes, built on PyTorch's `meta` device (no memory) with the
config ComfyUI would detect for the file, or the fixed config its loader uses. The only numbers chosen here
are the tiny diffusion-model sizes; ComfyUI's detection is then run on the result and must give the same
config back.
Tensors are written one at a time into a safetensors file of our own writing, so even the 470 MiB random VAE
never sits in memory as a whole. Each file is finally loaded with ComfyUI's loaders and its keys compared.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("smoke_weights_worker")

NOTE = "random weights for smoke tests, not a model"
# A stub carries every tensor small enough to matter as real values (norms, biases, embeddings under 64 KiB,
# at the smallest runtime dtype); the local ComfyUI sets the parameters it omits to exact zeros
# (`_comfy_site/sitecustomize.py`: ComfyUI itself would leave them as uninitialised memory).
# Callers still check the output (`smoke_weights.check_frames`), not only ComfyUI's success event.
MMAP_THRESHOLD = 65536
MIN_RUNTIME_ITEMSIZE = 2

# The only free choice: the smallest diffusion model ComfyUI detects as HunyuanVideo 1.0 (head size 128 is
# fixed, so hidden 128 means one head). Everything else is read back by ComfyUI's detection and checked.
TINY_DIT = {"hidden_size": 128, "depth": 1, "depth_single_blocks": 1}
# The v2 ("replace") image-to-video model puts the image into the first latent frame: T2V's 16 channels.
DIT_CLASSES = {
    "dit_t2v": ("HunyuanVideo", 16),
    "dit_i2v": ("HunyuanVideoI2V", 33),
    "dit_i2v_v2": ("HunyuanVideo", 16),
}
# Storage dtype per file, as the official files (by their names) store them.
FILE_DTYPES = {
    "dit_t2v": "bfloat16",
    "dit_i2v": "bfloat16",
    "dit_i2v_v2": "bfloat16",
    "vae": "bfloat16",
    "clip_l": "float16",
    "llama": "bfloat16",
    "clip_vision": "float16",
}
# The image families live in a sibling module, imported by path: this script runs in ComfyUI's virtualenv,
# where the gateway's package is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent))
image_models: Any = importlib.import_module("_smoke_image_models")
# Modules describing more families; each has ROLES, FILE_DTYPES, describe, keep_in_stub and verify.
MODEL_MODULES: tuple[Any, ...] = (
    image_models,
    importlib.import_module("_smoke_flux_models"),
    importlib.import_module("_smoke_control_models"),
    importlib.import_module("_smoke_qwen_models"),
    importlib.import_module("_smoke_vision_models"),
    importlib.import_module("_smoke_lotus_models"),
    importlib.import_module("_smoke_wan_models"),
)
lora_models: Any = importlib.import_module("_smoke_lora_models")
MODEL_MODULES += (lora_models,)
for _module in MODEL_MODULES:
    FILE_DTYPES.update(_module.FILE_DTYPES)


ALWAYS_STUB = frozenset(r for m in MODEL_MODULES for r in getattr(m, "ALWAYS_STUB", ()))


def model_module(role: str) -> Any | None:
    return next((m for m in MODEL_MODULES if role in m.ROLES), None)


def file_dtype(role: str) -> str:
    """The storage dtype of a role's file (LoRA roles are an open set: their module answers)."""
    return FILE_DTYPES.get(role) or lora_models.file_dtype(role)


tensors: Any = importlib.import_module("_smoke_tensors")


class WorkerError(RuntimeError):
    """A file could not be described, written or verified; the message says which and why."""


# --------------------------------------------------------------------------- ComfyUI and torch


def import_comfy(comfyui_dir: str) -> dict[str, Any]:
    """Import the ComfyUI modules we need, configured for CPU exactly like the local server."""
    if comfyui_dir not in sys.path:
        sys.path.insert(0, comfyui_dir)
    cli_args = importlib.import_module("comfy.cli_args")
    cli_args.args.cpu = True  # before model_management picks a device
    names = {
        "torch": "torch",
        "ops": "comfy.ops",
        "sd": "comfy.sd",
        "utils": "comfy.utils",
        "detection": "comfy.model_detection",
        "latent_formats": "comfy.latent_formats",
        "hv_te": "comfy.text_encoders.hunyuan_video",
        "clip_model": "comfy.clip_model",
        "clip_vision": "comfy.clip_vision",
        "supported_models": "comfy.supported_models",
        "openaimodel": "comfy.ldm.modules.diffusionmodules.openaimodel",
        "lora": "comfy.lora",
        "spandrel": "spandrel",
        "esrgan": "spandrel.architectures.ESRGAN",
    }
    return {key: importlib.import_module(mod) for key, mod in names.items()}


class Describer:
    """Builds each model on `meta` and returns its state dict (names, shapes, dtypes; no data)."""

    def __init__(self, comfy: dict[str, Any]) -> None:
        self.c = comfy
        self.torch = comfy["torch"]

    def describe(self, role: str) -> tuple[Any, dict[str, Any]]:
        """(meta module, meta state dict) for one file role."""
        if role in DIT_CLASSES:
            return self._dit(role)
        builders: dict[str, Callable[[], Any]] = {
            "vae": self._vae,
            "clip_l": lambda: self._text_encoders().clip_l.transformer,
            "llama": lambda: self._text_encoders().llama.transformer,
            "clip_vision": self._clip_vision,
        }
        if role not in builders:
            raise WorkerError(f"unknown smoke-weight role {role!r}")
        module = builders[role]()
        return module, module.state_dict()

    def _dit(self, role: str) -> tuple[Any, dict[str, Any]]:
        want_class, in_channels = DIT_CLASSES[role]
        latent = self.c["latent_formats"].HunyuanVideo.latent_channels
        probe = self._dit_probe(in_channels, latent)
        module = tensors.detected_model(
            self.c, role, probe, "comfy.ldm.hunyuan_video.model", "HunyuanVideo", want_class
        )
        return module, module.state_dict()

    def _dit_probe(self, in_channels: int, latent: int) -> dict[str, Any]:
        """A meta state dict holding only the keys and shapes ComfyUI's detection reads (full-size key
        names; every other field of the config is detected from them)."""
        torch = self.torch
        hidden = TINY_DIT["hidden_size"]
        patch = (1, 2, 2)  # HunyuanVideo 1.0 patches 3-D; a 2-D patch selects HunyuanImage

        def empty(*shape: int) -> Any:
            return torch.empty(*shape, device="meta")

        return {
            "txt_in.individual_token_refiner.blocks.0.norm1.weight": empty(hidden),
            "img_in.proj.weight": empty(hidden, in_channels, *patch),
            "final_layer.linear.weight": empty(latent * 4, hidden),
            "txt_in.input_embedder.weight": empty(hidden, 4096),  # Llama-3-8B hidden width
            "vector_in.in_layer.weight": empty(hidden, 768),  # CLIP-L pooled width
            "guidance_in.in_layer.weight": empty(hidden, 256),
            **{f"double_blocks.{i}.img_mod.lin.weight": empty(1) for i in range(TINY_DIT["depth"])},
            **{f"single_blocks.{i}.linear1.weight": empty(1) for i in range(TINY_DIT["depth_single_blocks"])},
        }

    def _vae(self) -> Any:
        torch = self.torch
        latent = self.c["latent_formats"].HunyuanVideo.latent_channels
        # ComfyUI's VAE reads only dim 1 of these two keys and fixes the rest.
        probe = {
            "decoder.conv_in.conv.weight": torch.empty(1, latent, 3, 3, 3, device="meta"),
            "post_quant_conv.weight": torch.empty(latent, latent, 1, 1, 1, device="meta"),
        }
        return tensors.probed_vae(self.c, probe)

    def _text_encoders(self) -> Any:
        torch = self.torch
        cls = self.c["hv_te"].hunyuan_video_clip(dtype_llama=torch.bfloat16)
        return cls(device="meta", dtype=torch.float16)

    def _clip_vision(self) -> Any:
        # HunyuanVideo I2V's llava_llama3_vision: CLIP ViT-L/14-336 plus the llava projector.
        vision = importlib.import_module("_smoke_vision_models")
        return vision.clip_vision_model(self.c, "clip_vision_config_vitl_336_llava.json", self.torch.float16)


# Keys ComfyUI's loaders need to recognise a file: kept in a stub whatever their size.
DETECTION_KEYS = {
    "vae": ("decoder.conv_in.conv.weight", "post_quant_conv.weight"),
    "clip_l": ("text_model.encoder.layers.1.mlp.fc1.weight",),
    "clip_vision": (
        "vision_model.encoder.layers.22.layer_norm1.weight",
        "vision_model.encoder.layers.0.layer_norm1.weight",
        "vision_model.embeddings.position_embedding.weight",
        "multi_modal_projector.linear_1.bias",
    ),
}


def select_keys(role: str, kind: str, sd: dict[str, Any]) -> list[str]:
    """The tensors a file of this kind carries (sorted); the local ComfyUI sets the rest to zeros."""
    # An 8B Llama, a 4.7B T5 or a 0.5B Flux DiT cannot be small: always stubs.
    full = kind == "tiny" and role != "llama" and role not in ALWAYS_STUB
    if full or role in DIT_CLASSES:
        return sorted(sd)
    module = model_module(role)
    if module is not None:
        return sorted(
            k
            for k, t in sd.items()
            if module.keep_in_stub(role, k) or t.numel() * MIN_RUNTIME_ITEMSIZE < MMAP_THRESHOLD
        )
    needed = set(DETECTION_KEYS.get(role, ()))
    keep = [k for k, t in sd.items() if k in needed or t.numel() * MIN_RUNTIME_ITEMSIZE < MMAP_THRESHOLD]
    return sorted(keep)


# --------------------------------------------------------------------------- verification


def verify(comfy: dict[str, Any], files: dict[str, Path], written: dict[str, list[str]]) -> dict[str, Any]:
    """Load every file with ComfyUI's loaders; report per role missing/unexpected keys against the model."""
    sd_mod, utils, torch = comfy["sd"], comfy["utils"], comfy["torch"]
    loaded: dict[str, Any] = {}
    for role in DIT_CLASSES:
        if role in files:
            loaded[role] = tensors.loaded_dit(comfy, files[role], set(written[role]))
    if "vae" in files:
        vae = sd_mod.VAE(sd=utils.load_torch_file(str(files["vae"])))
        loaded["vae"] = (vae.first_stage_model.state_dict(), set(written["vae"]), type(vae).__name__)
    if "clip_l" in files and "llama" in files:
        clip = sd_mod.load_clip(
            ckpt_paths=[str(files["clip_l"]), str(files["llama"])], clip_type=sd_mod.CLIPType.HUNYUAN_VIDEO
        )
        te = clip.cond_stage_model
        loaded["clip_l"] = (te.clip_l.transformer.state_dict(), set(written["clip_l"]), type(te).__name__)
        loaded["llama"] = (te.llama.transformer.state_dict(), set(written["llama"]), type(te).__name__)
    if "clip_vision" in files:
        cv = comfy["clip_vision"].load(str(files["clip_vision"]))
        if cv is None:
            raise WorkerError("clip_vision: ComfyUI does not recognise the file")
        loaded["clip_vision"] = (cv.model.state_dict(), set(written["clip_vision"]), type(cv.model).__name__)

    report: dict[str, Any] = {}
    for role in files:
        module = model_module(role)
        if module is not None:
            report.update(module.verify(comfy, role, files, written))
    for role, (model_sd, file_keys, loaded_as) in loaded.items():
        missing = sorted(set(model_sd) - file_keys)
        unexpected = sorted(file_keys - set(model_sd))
        # A value check proves the loader really copied the file (not just matched names).
        probe = next((k for k in sorted(file_keys) if k in model_sd), None)
        copied = probe is not None and _same_values(torch, utils, files[role], role, probe, model_sd[probe])
        report[role] = {
            "loaded_as": loaded_as,
            "missing": len(missing),
            "missing_sample": missing[:5],
            "unexpected": unexpected,
            "values_loaded": copied,
        }
    return report


def _same_values(torch: Any, utils: Any, path: Path, role: str, key: str, param: Any) -> bool:
    del role
    sd = utils.load_torch_file(str(path))
    return bool(torch.allclose(sd[key].float(), param.float(), rtol=1e-2, atol=1e-3))


def judge(report: dict[str, Any], omitted: dict[str, int]) -> dict[str, Any]:
    """A file passes when it loads its values, has no unexpected key, and lacks only what a stub omits."""
    for role, entry in report.items():
        problems = []
        if entry["unexpected"]:
            problems.append(f"unexpected keys {entry['unexpected'][:5]}")
        if entry["missing"] != omitted[role]:
            problems.append(f"{entry['missing']} keys missing, {omitted[role]} omitted on purpose")
        if not entry["values_loaded"]:
            problems.append("values in the model differ from the file")
        entry["omitted"] = omitted[role]
        entry["ok"] = not problems
        if problems:
            entry["problem"] = "; ".join(problems)
    return report


# --------------------------------------------------------------------------- job


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """ComfyUI prints; keep stdout for our one JSON line."""
    saved = sys.stdout
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = saved


def describe_file(comfy: dict[str, Any], describer: Describer, role: str) -> tuple[dict[str, Any], set[str]]:
    """(meta state dict under the file's key names, its normalisation parameters) of one role."""
    module = model_module(role)
    if module is not None:
        sd, norms = module.describe(comfy, role)
        return sd, norms
    module, sd = describer.describe(role)
    return sd, tensors.norm_params(module)


def run(job: dict[str, Any]) -> dict[str, Any]:
    kind, seed = str(job["kind"]), int(job["seed"])
    files = {role: Path(p) for role, p in job["files"].items()}
    started = time.monotonic()
    comfy = import_comfy(str(job["comfyui_dir"]))
    torch = comfy["torch"]
    describer = Describer(comfy)
    # Verification needs every file of a loader, also those that were already there.
    describe_only = set(job.get("existing", []))
    written: dict[str, list[str]] = {}
    omitted: dict[str, int] = {}
    out: dict[str, Any] = {"files": {}}
    lora_models.describe_base = lambda base: describe_file(comfy, describer, base)[0]
    for role, path in files.items():
        sd, norms = describe_file(comfy, describer, role)
        dtype = getattr(torch, file_dtype(role))
        sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}
        keys = select_keys(role, kind, sd)
        written[role] = keys
        omitted[role] = len(sd) - len(keys)
        if role in describe_only:
            continue
        metadata = {
            tensors.MARKER: "1",
            "kind": kind,
            "seed": str(seed),
            "writer": str(job["writer"]),
            "role": role,
            "note": NOTE,
            "format": "pt",
        }
        t0 = time.monotonic()
        write = tensors.write_pth if path.suffix in tensors.PICKLE_SUFFIXES else tensors.write_streamed
        size = write(
            path,
            [(k, sd[k]) for k in keys],
            functools.partial(tensors.make, torch, seed=seed, role=role, norms=norms),
            metadata,
            torch,
        )
        params = sum(sd[k].numel() for k in keys)
        out["files"][role] = {
            "path": str(path),
            "bytes": size,
            "tensors": len(keys),
            "omitted": len(sd) - len(keys),
            "parameters": params,
            "seconds": round(time.monotonic() - t0, 3),
        }
    out["generate_seconds"] = round(time.monotonic() - started, 3)
    if job.get("check", True):
        t0 = time.monotonic()
        out["check"] = judge(verify(comfy, files, written), omitted)
        out["check_seconds"] = round(time.monotonic() - t0, 3)
    return out


def main() -> int:
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    job = json.loads(sys.stdin.read())
    try:
        with _stdout_to_stderr():
            report = run(job)
    except Exception as exc:  # reported to the gateway, which raises its own error type
        log.exception("smoke-weight generation failed")
        sys.stdout.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        return 1
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
