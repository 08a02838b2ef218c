"""Which model family a model file, and so a graph, belongs to.

A file's family comes from the composer's fragments (`agents/compose/fragments/<family>.json` name the
official files of each family), else from its name. Families are the fragments' names (`hunyuan_video`,
`qwen_image`, `wan21` ...); `intent_family` turns one into the `Intent.model_family` spelling.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any, cast, get_args

from agents.compose.fragments import FragmentLibrary
from agents.intent import ModelFamily
from node_catalog import Catalog
from node_catalog.specs import FOLDER_ALIASES
from node_catalog.topology import topological_order

GENERIC_FAMILIES = frozenset({"none", "utility"})  # fragments that serve every family
BASE_FOLDERS = frozenset({"checkpoints", "diffusion_models"})  # where the model that generates is loaded
_NAME_FAMILIES = (
    ("sdxl", re.compile(r"sd_?xl|(?<![a-z])xl(?![a-z])", re.I)),
    ("sd15", re.compile(r"sd_?1\.?5|v1-5", re.I)),
    ("flux", re.compile(r"flux", re.I)),
    ("hunyuan_video", re.compile(r"hunyuan", re.I)),
    ("wan21", re.compile(r"(?<![a-z])wan_?2\.?1|(?<![a-z])wan(?![a-z])", re.I)),
    ("qwen_image", re.compile(r"qwen[_-]?image", re.I)),
)

Known = Mapping[tuple[str, str], frozenset[str]]  # (models folder, file) -> families


def folder_name(folder: str | None) -> str:
    return FOLDER_ALIASES.get(folder or "", folder or "")


def file_families(known: Known, folder: str, filename: str) -> frozenset[str]:
    """The model families a file belongs to: the fragments that name it, else the family its name says."""
    found = known.get((folder_name(folder), filename))
    if found:
        return found
    return frozenset(f for f, pattern in _NAME_FAMILIES if pattern.search(filename))


@functools.cache
def _fragment_families() -> dict[tuple[str | None, str, str], frozenset[str]]:
    """(input class, input name, file) -> families, from the bundled fragments' loader nodes."""
    out: dict[tuple[str | None, str, str], set[str]] = {}
    for fragment in FragmentLibrary.bundled().fragments:
        if fragment.family in GENERIC_FAMILIES:
            continue
        for node in fragment.nodes.values():
            for input_name, value in (node.get("inputs") or {}).items():
                if isinstance(value, str):
                    out.setdefault((str(node["class_type"]), input_name, value), set()).add(fragment.family)
    return {k: frozenset(v) for k, v in out.items()}


def known_families(catalog: Catalog) -> dict[tuple[str, str], frozenset[str]]:
    """(models folder, file) -> families, for the fragments' files the catalog says are model files."""
    out: dict[tuple[str, str], frozenset[str]] = {}
    for (cls, input_name, value), families in _fragment_families().items():
        spec = catalog.get(str(cls))
        inp = spec.inputs.get(input_name) if spec is not None else None
        if inp is not None and inp.model_folder:
            key = (folder_name(inp.model_folder), value)
            out[key] = out.get(key, frozenset()) | families
    return out


def _model_values(workflow: Mapping[str, Mapping[str, Any]], catalog: Catalog) -> Iterator[tuple[str, str]]:
    """(models folder, file) of every model-file value of an API graph, in the graph's order."""
    for node_id in topological_order(workflow):
        node = workflow[node_id]
        spec = catalog.get(str(node.get("class_type")))
        if spec is None:
            continue
        for name, value in (node.get("inputs") or {}).items():
            inp = spec.inputs.get(name)
            if inp is not None and inp.model_folder and isinstance(value, str):
                yield folder_name(inp.model_folder), value


def graph_family(workflow: Mapping[str, Mapping[str, Any]], catalog: Catalog) -> str | None:
    """The family of the model that makes the graph's result: of the last base model (checkpoint or
    diffusion model) in the graph's order, so a Flux picture animated by Wan is a Wan graph. "none" for a
    graph that loads no base model (a resample, a solid-colour test), None when its family is unknown."""
    known = known_families(catalog)
    last: frozenset[str] | None = None
    for folder, value in _model_values(workflow, catalog):
        if folder in BASE_FOLDERS:
            last = file_families(known, folder, value)
    if last is None:
        return "none"
    return min(last) if len(last) == 1 else None


def intent_family(family: str | None) -> ModelFamily | None:
    """A fragment family's `Intent.model_family` spelling (`hunyuan_video` -> `hunyuan-video`); None for a
    family the intent has no name for."""
    if family is None:
        return None
    name = family.replace("_", "-")
    return cast(ModelFamily, name) if name in get_args(ModelFamily) else None
