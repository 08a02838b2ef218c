"""Fragments: small verified API subgraphs, one per operation and model family, kept as data.

Each `fragments/<family>.json` holds one family's fragments: nodes (local keys; a link is
`[node_key, output_name]`), open input `ports` (the inputs a port's source feeds), `params` (the widget
inputs an operation parameter writes), the `output` and, for clips, where the frame rate comes from. A new
model family is a new data file. `FragmentLibrary.candidates` ranks them for one step: classes the catalog
has (API nodes never), the asked family, then families whose model files the backend has, then `priority`.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from node_catalog import Catalog
from node_catalog.specs import FOLDER_ALIASES

Target = tuple[str, str]  # (node key, input name)


class Pack(BaseModel):
    """A custom node pack a fragment needs (not in a core ComfyUI)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    url: str = ""


class FpsSource(BaseModel):
    """Where a clip's frame rate comes from: a parameter, an input port's clip, or both (port, else param)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    param: str | None = None
    port: str | None = None
    multiply_by: str | None = None  # a parameter that multiplies it (frame interpolation)


class Fragment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    operation: str
    family: str = "none"
    variant: str | None = None  # control kind, upscale method, ...
    priority: int = 50
    source: str = ""
    pack: Pack | None = None
    nodes: dict[str, dict[str, Any]]
    ports: dict[str, list[Target]] = Field(default_factory=dict)
    params: dict[str, list[Target]] = Field(default_factory=dict)
    output: Target | None = None
    output_fps: FpsSource | None = None
    defaults: dict[str, Any] = Field(default_factory=dict)  # e.g. fps, frames, native_scale, frame_rule
    lora: dict[str, Target] = Field(default_factory=dict)  # "model"/"clip": the outputs a LoRA patches
    variadic: bool = False  # one node per extra source (join)
    native_size: tuple[int, int] | None = None  # the family's training resolution (its data file says)

    @model_validator(mode="after")
    def _keys_exist(self) -> Fragment:
        def check(key: str, where: str) -> None:
            if key not in self.nodes:
                raise ValueError(f"fragment {self.name}: {where} names node {key!r}, which it lacks")

        for node in self.nodes.values():
            for value in (node.get("inputs") or {}).values():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    check(value[0], "a link")
        for group in (self.ports, self.params):
            for name, targets in group.items():
                for key, _ in targets:
                    check(key, name)
        if self.output is not None:
            check(self.output[0], "output")
        for key, _ in self.lora.values():
            check(key, "lora")
        return self

    def classes(self) -> list[str]:
        return sorted({str(n["class_type"]) for n in self.nodes.values()})

    def model_files(self, catalog: Catalog) -> dict[str, list[str]]:
        """Folder -> file names the fragment's loaders name (the catalog tells which inputs are files)."""
        out: dict[str, list[str]] = {}
        for node in self.nodes.values():
            spec = catalog.get(str(node["class_type"]))
            for name, value in (node.get("inputs") or {}).items():
                ispec = spec.inputs.get(name) if spec is not None else None
                if ispec is not None and ispec.model_folder and isinstance(value, str):
                    folder = FOLDER_ALIASES.get(ispec.model_folder, ispec.model_folder)
                    out.setdefault(folder, [])
                    if value not in out[folder]:
                        out[folder].append(value)
        return out

    def missing_classes(self, catalog: Catalog) -> list[str]:
        return [c for c in self.classes() if c not in catalog]

    def usable(self, catalog: Catalog) -> bool:
        for cls in self.classes():
            spec = catalog.get(cls)
            if spec is None or spec.api_node:  # paid API nodes are never picked
                return False
        return True


def has_files(
    fragment: Fragment, catalog: Catalog, models: Mapping[str, Sequence[str]] | None
) -> bool | None:
    """True when the backend lists every model file the fragment names, None when it was not said."""
    if models is None:
        return None
    norm: dict[str, set[str]] = {}
    for folder, names in models.items():
        norm.setdefault(FOLDER_ALIASES.get(folder, folder), set()).update(names)
    return all(
        f in norm.get(folder, set()) for folder, files in fragment.model_files(catalog).items() for f in files
    )


class FragmentLibrary:
    def __init__(self, fragments: Sequence[Fragment]) -> None:
        self.fragments = list(fragments)

    @classmethod
    @functools.cache
    def bundled(cls) -> FragmentLibrary:
        folder = resources.files("agents.compose").joinpath("fragments")
        fragments: list[Fragment] = []
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if entry.name.endswith(".json"):
                fragments.extend(load_family(json.loads(entry.read_text(encoding="utf-8")), entry.name))
        return cls(fragments)

    @classmethod
    def with_files(cls, *paths: Path) -> FragmentLibrary:
        """The bundled fragments plus families from extra data files (a new model family)."""
        extra = [f for p in paths for f in load_family(json.loads(p.read_text(encoding="utf-8")), p.name)]
        return cls([*cls.bundled().fragments, *extra])

    def for_operation(self, operation: str, variant: str | None = None) -> list[Fragment]:
        return [
            f
            for f in self.fragments
            if f.operation == operation and (variant is None or f.variant == variant)
        ]

    def candidates(
        self,
        operation: str,
        catalog: Catalog,
        *,
        ports: Sequence[str] = (),
        variant: str | None = None,
        family: str | None = None,
        models: Mapping[str, Sequence[str]] | None = None,
        size: tuple[int, int] | None = None,
    ) -> list[Fragment]:
        """Usable fragments for a step, best first: the asked family, then those whose model files the
        backend has, then those made for the asked `size` (`size_misfit`), then `priority`. `ports` are the
        inputs the step is given."""
        found = [
            f
            for f in self.for_operation(operation, variant)
            if set(f.ports) == set(ports) and f.usable(catalog)
        ]

        def rank(f: Fragment) -> tuple[bool, bool, int, int, str]:
            present = has_files(f, catalog, models)
            return (
                family is not None and f.family != family,
                present is False,
                size_misfit(f.native_size, size),
                f.priority,
                f.name,
            )

        return sorted(found, key=rank)


# A model renders up to about twice its training area well (SDXL at 1920x1080); past that it repeats or smears
# the subject, so a larger picture is a larger model's work.
_FITS_AREA = 2.2


def size_misfit(native: tuple[int, int] | None, size: tuple[int, int] | None) -> int:
    """0 when a model trained at `native` renders `size` well (or either is unknown), else how many doublings
    of area it falls short by: SD1.5 (512x512) for a 1024x1024 picture is 1, SDXL is 0."""
    if native is None or size is None:
        return 0
    ratio = size[0] * size[1] / (native[0] * native[1] * _FITS_AREA)
    return 0 if ratio <= 1 else math.ceil(math.log2(ratio))


def load_family(data: Mapping[str, Any], source: str) -> list[Fragment]:
    family = str(data.get("family") or "none")
    out = []
    for raw in data.get("fragments") or []:
        body = {"family": family, "source": data.get("source", source), **raw}
        if data.get("native_size") is not None:
            body.setdefault("native_size", data["native_size"])
        out.append(Fragment.model_validate(body))
    return out
