"""Smoke LoRAs: a LoRA file under a name a request gives, built for the smoke model it patches.

A LoRA's keys name the weights of one model, so a smoke LoRA is made for one base file of the smoke set (a
checkpoint or diffusion model of `smoke_families.FAMILIES`) and is useless on another: ComfyUI would log
"lora key not loaded" for each key and patch nothing. Its role `lora:<base role>:<file name>` (in its
metadata, like every smoke file's role) records the base. Names come from requests ("the inkwash lora"),
so there is no fixed list: `graph_loras` reads which LoRA a graph loads onto which model file,
`ensure_graph_loras` writes the missing ones for a local smoke backend, and `EXAMPLE_LORAS` are the names
the bundled eval sets ask for (what `comfy-gateway comfyui smoke-weights --all` and `make run` write, on
the SD1.5 checkpoint the generator uses for a request that names no model). A file that is not smoke
weights is never written over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from comfyui_local.installer import ComfyInstall
from comfyui_local.smoke_families import FAMILIES
from comfyui_local.smoke_weights import (
    Kind,
    SmokeFile,
    SmokeWeightsError,
    SmokeWeightsReport,
    build_smoke_weights,
    smoke_metadata,
)

LORA_FOLDER = "loras"
ROLE_PREFIX = "lora:"
LORA_LOADERS = ("LoraLoader", "LoraLoaderModelOnly")
# Files a LoRA can patch: what CheckpointLoaderSimple / UNETLoader load.
BASE_FOLDERS = ("checkpoints", "diffusion_models")
_MODEL_FILE_INPUTS = {"ckpt_name": "checkpoints", "unet_name": "diffusion_models"}
# The family a LoRA is for when the user names none: the generator's default image model.
DEFAULT_LORA_FAMILY = "sdxl"  # agents.defaults.default_family("text-to-image") (a test keeps them in step)
# LoRA names the bundled eval sets' requests give (tests/unit/smoke_weights/test_smoke_loras.py keeps this
# in step with evals/sets); written for the default family's base.
EXAMPLE_LORAS: tuple[str, ...] = (
    "claymation.safetensors",
    "ghibli.safetensors",
    "inkwash.safetensors",
    "neonpunk.safetensors",
    "oilpaint_v2.safetensors",
    "papercut.safetensors",
    "pixel_art.safetensors",
    "pixelart.safetensors",
    "retro_film.safetensors",
    "watercolor_v2.safetensors",
)


def base_files() -> dict[str, SmokeFile]:
    """Every smoke file a LoRA can be built for, by role."""
    return {f.role: f for files in FAMILIES.values() for f in files if f.folder in BASE_FOLDERS}


def family_base(family: str) -> SmokeFile:
    """The base a LoRA for `family` patches (its first checkpoint or diffusion model)."""
    base = next((f for f in FAMILIES.get(family, ()) if f.folder in BASE_FOLDERS), None)
    if base is None:
        have = ", ".join(n for n, fs in FAMILIES.items() if any(f.folder in BASE_FOLDERS for f in fs))
        raise SmokeWeightsError(f"no smoke LoRA for family {family!r}: LoRAs exist for {have}")
    return base


def lora_base(folder: str, filename: str) -> SmokeFile | None:
    """The smoke base file under this name (`folder` as a loader names it), or None."""
    folder = {"unet": "diffusion_models"}.get(folder, folder)
    return next((f for f in base_files().values() if (f.folder, f.filename) == (folder, filename)), None)


def lora_file_name(name: str) -> str:
    """A request's LoRA name as a file name (the composer's rule: a bare name gets `.safetensors`)."""
    name = name.strip()
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise SmokeWeightsError(f"{name!r} is not a LoRA file name (no folders, not hidden)")
    return name if "." in name else f"{name}.safetensors"


def smoke_lora(name: str, base: SmokeFile) -> SmokeFile:
    """The smoke LoRA file `loras/<name>` built for `base`."""
    filename = lora_file_name(name)
    if not filename.endswith(".safetensors"):
        raise SmokeWeightsError(f"{filename}: smoke LoRAs are safetensors files (the marker lives there)")
    return SmokeFile(f"{ROLE_PREFIX}{base.role}:{filename}", LORA_FOLDER, filename, "LoraLoader")


def smoke_lora_base(path: Path) -> str | None:
    """The base role a smoke LoRA file was built for, or None (not a smoke LoRA)."""
    meta = smoke_metadata(path)
    return lora_role_base(meta.get("role", "") if meta else "")


def lora_role_base(role: str) -> str | None:
    """`lora:<base>:<name>` -> base; None for another role."""
    if not role.startswith(ROLE_PREFIX) or role.count(":") < 2:
        return None
    return role[len(ROLE_PREFIX) :].split(":", 1)[0]


def graph_loras(workflow: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(LoRA file, role of the smoke base it patches or None) for each LoRA loader of an API-format graph,
    following its `model` input back through model patches to the file loader."""
    out: list[tuple[str, str | None]] = []
    for node in workflow.values():
        if not isinstance(node, dict) or node.get("class_type") not in LORA_LOADERS:
            continue
        name = (node.get("inputs") or {}).get("lora_name")
        if isinstance(name, str):
            base = _model_source(workflow, node)
            out.append((name, base.role if base is not None else None))
    return out


def _model_source(workflow: Mapping[str, Any], node: Mapping[str, Any]) -> SmokeFile | None:
    seen: set[str] = set()
    while True:
        inputs = node.get("inputs") or {}
        for key, folder in _MODEL_FILE_INPUTS.items():
            if isinstance(inputs.get(key), str):
                return lora_base(folder, inputs[key])
        link = inputs.get("model")
        if not (isinstance(link, list) and link and str(link[0]) in workflow) or str(link[0]) in seen:
            return None
        seen.add(str(link[0]))
        node = workflow[str(link[0])]
        if not isinstance(node, dict):
            return None


def loras_for_graph(workflow: Mapping[str, Any]) -> list[SmokeFile]:
    """The smoke LoRAs a graph needs; SmokeWeightsError when one patches no smoke model or one name is
    loaded onto two different bases (one file cannot fit both)."""
    out: dict[str, SmokeFile] = {}
    files = base_files()
    for name, base in graph_loras(workflow):
        if base is None:
            raise SmokeWeightsError(f"LoRA {name}: the model it patches has no smoke weights")
        lora = smoke_lora(name, files[base])
        if out.get(lora.filename, lora) != lora:
            raise SmokeWeightsError(f"LoRA {name} patches two different models in one graph")
        out[lora.filename] = lora
    return list(out.values())


def build_loras(
    models_dir: Path,
    loras: Iterable[SmokeFile],
    *,
    inst: ComfyInstall,
    kind: Kind = "stub",
    seed: int = 0,
    force: bool = False,
) -> SmokeWeightsReport:
    """Write (idempotently) smoke LoRAs into `models_dir/loras/`; one built for another base is rewritten."""
    files = _one_lora_per_name(loras)
    return build_smoke_weights(models_dir, inst=inst, kind=kind, seed=seed, force=force, files=files)


def ensure_graph_loras(
    models_dir: Path, workflow: Mapping[str, Any], *, inst: ComfyInstall, kind: Kind = "stub", seed: int = 0
) -> list[Path]:
    """For a local smoke backend: the graph's LoRAs, written when missing or built for another base (never
    over a real file); their paths. Call before validating the graph, then refresh the catalog. A LoRA
    rewritten for another base under a name a running ComfyUI already loaded may be served from LoraLoader's
    own cache (keyed by path) until ComfyUI frees its models (`/free`)."""
    needed = loras_for_graph(workflow)
    if not needed:
        return []
    return build_loras(models_dir, needed, inst=inst, kind=kind, seed=seed).paths


def lora_request(
    families: Sequence[str], loras: Sequence[str], lora_family: str | None, *, all_families: bool = False
) -> tuple[list[str], list[SmokeFile]]:
    """What `smoke-weights --family/--lora/--lora-family/--all` asks for: (families to write, LoRA files).

    A LoRA fits one model, so its family is `lora_family`, else the one `--family` that has a model a LoRA
    patches, else `DEFAULT_LORA_FAMILY`; that family is written too (a LoRA without its model cannot run).
    `--all` adds `EXAMPLE_LORAS` for the default family. Empty families: the caller's default set.
    """
    names = list(FAMILIES) if all_families else list(families)
    if lora_family is None:
        with_base = [
            f for f in dict.fromkeys(names) if any(x.folder in BASE_FOLDERS for x in FAMILIES.get(f, ()))
        ]
        if loras and len(with_base) > 1 and not all_families:
            raise SmokeWeightsError(
                f"which model do the LoRAs patch? --family names {', '.join(with_base)}: add --lora-family"
            )
        lora_family = with_base[0] if len(with_base) == 1 else DEFAULT_LORA_FAMILY
    files = example_loras(lora_family, [*loras]) if loras else []
    if all_families:
        files += [f for f in example_loras() if f.filename not in {x.filename for x in files}]
    if files and lora_family not in names:
        names.append(lora_family)
    return names, list(_one_lora_per_name(files))


def _one_lora_per_name(loras: Iterable[SmokeFile]) -> tuple[SmokeFile, ...]:
    files = tuple(loras)
    names = [f.filename for f in files]
    if len(set(names)) != len(names):
        raise SmokeWeightsError(f"one file name asked for two LoRAs: {', '.join(sorted(names))}")
    return files


def example_loras(family: str = DEFAULT_LORA_FAMILY, names: Sequence[str] = EXAMPLE_LORAS) -> list[SmokeFile]:
    """Smoke LoRAs under `names` for `family`'s base."""
    base = family_base(family)
    return [smoke_lora(name, base) for name in names]
