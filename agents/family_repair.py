"""Execution repair for a ControlNet of another model family than the graph's base model (an SD1.5 ControlNet
on an SDXL checkpoint). ComfyUI validates such a graph (a file name is a file name) and only the sampler
fails, with a shape mismatch inside the ControlNet's cross-attention (`mat1 and mat2 shapes cannot be
multiplied (154x2048 and 768x320)`: SDXL's 2048-wide text into SD1.5's 768-wide projection), at the sampler's
node. The fix swaps the ControlNet for a file of the base model's family, of the same control kind when
there is one.

A file's family comes from the composer's fragments (`agents/compose/fragments/<family>.json` name the
official files of each family), else from its name (`sdxl`, `sd15`, `flux` in it).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence

from agents.compose.fragments import FragmentLibrary
from agents.errors import RepairError
from agents.linklist import LinkList, class_of
from agents.value_repair import closest_choice
from node_catalog import Catalog
from node_catalog.specs import FOLDER_ALIASES, InputSpec

SHAPE_MISMATCH = re.compile(
    r"mat1 and mat2 shapes cannot be multiplied|size mismatch|shapes? .{0,60}(?:cannot|can't) be|"
    r"expected .{0,80} channels",
    re.I,
)
CONTROLNET_FOLDER = "controlnet"
_BASE_FOLDERS = frozenset({"checkpoints", "diffusion_models"})
_GENERIC_FAMILIES = frozenset({"none", "utility"})  # fragments that serve every family
_NAME_FAMILIES = (
    ("sdxl", re.compile(r"sd_?xl|(?<![a-z])xl(?![a-z])", re.I)),
    ("sd15", re.compile(r"sd_?1\.?5|v1-5", re.I)),
    ("flux", re.compile(r"flux", re.I)),
)
_CONTROL_KINDS = re.compile(
    r"canny|depth|openpose|pose|scribble|lineart|softedge|hed|tile|inpaint|normal|seg|mlsd|shuffle", re.I
)


def swap_foreign_controlnets(
    doc: LinkList,
    catalog: Catalog,
    message: str,
    *,
    failed_at: str,
    models: Mapping[str, Sequence[str]] | None,
    bad_models: Sequence[str],
) -> list[str]:
    """Edits that give every ControlNet of another family the base model's one; [] when the error is no
    shape mismatch or no ControlNet is foreign; RepairError when the backend has no fitting ControlNet."""
    if not SHAPE_MISMATCH.search(message):
        return []
    known = _known_families(catalog)
    base = {
        family
        for folder, value in _model_values(doc, catalog)
        if folder in _BASE_FOLDERS
        for family in file_families(known, folder, value)
    }
    if len(base) != 1:  # no base model we know, or several: nothing to match the ControlNet to
        return []
    (family,) = base
    fixes: list[str] = []
    for name, inp, folder, current in _model_inputs(doc, catalog):
        if folder != CONTROLNET_FOLDER:
            continue
        families = file_families(known, CONTROLNET_FOLDER, current)
        if not families or family in families:
            continue
        # The files the request allows when it says, else every file the backend lists.
        listed = (models or {}).get(CONTROLNET_FOLDER)
        have = listed if listed is not None else inp.options or ()
        fitting = [
            str(f)
            for f in dict.fromkeys(have)
            if f not in bad_models and family in file_families(known, CONTROLNET_FOLDER, str(f))
        ]
        was = "/".join(sorted(families))
        if not fitting:
            raise RepairError(
                f"{name} loads {current!r}, a {was} ControlNet, into a {family} graph, and {failed_at} "
                f"fails ({message.strip()}); the backend has no {family} ControlNet in "
                f"models/{CONTROLNET_FOLDER}: add one or use a {was} base model"
            )
        new = _same_kind(current, fitting)
        doc.values(name)[inp.name] = new
        fixes.append(
            f"{name}.{inp.name}: {current!r} is a {was} ControlNet in a {family} graph ({failed_at}: "
            f"{message.strip()[:100]}); using {new!r}"
        )
    return fixes


Known = Mapping[tuple[str, str], frozenset[str]]  # (models folder, file) -> families


def file_families(known: Known, folder: str, filename: str) -> frozenset[str]:
    """The model families a file belongs to: the fragments that name it, else the family its name says."""
    found = known.get((_folder(folder), filename))
    if found:
        return found
    return frozenset(f for f, pattern in _NAME_FAMILIES if pattern.search(filename))


@functools.cache
def _fragment_families() -> dict[tuple[str | None, str, str], frozenset[str]]:
    """(input class, input name, file) -> families, from the bundled fragments' loader nodes."""
    out: dict[tuple[str | None, str, str], set[str]] = {}
    for fragment in FragmentLibrary.bundled().fragments:
        if fragment.family in _GENERIC_FAMILIES:
            continue
        for node in fragment.nodes.values():
            for input_name, value in (node.get("inputs") or {}).items():
                if isinstance(value, str):
                    out.setdefault((str(node["class_type"]), input_name, value), set()).add(fragment.family)
    return {k: frozenset(v) for k, v in out.items()}


def _known_families(catalog: Catalog) -> dict[tuple[str, str], frozenset[str]]:
    """(models folder, file) -> families, for the fragments' files the catalog says are model files."""
    out: dict[tuple[str, str], frozenset[str]] = {}
    for (cls, input_name, value), families in _fragment_families().items():
        spec = catalog.get(str(cls))
        inp = spec.inputs.get(input_name) if spec is not None else None
        if inp is not None and inp.model_folder:
            key = (_folder(inp.model_folder), value)
            out[key] = out.get(key, frozenset()) | families
    return out


def _model_values(doc: LinkList, catalog: Catalog) -> list[tuple[str, str]]:
    """(models folder, file) for every model-file value of the graph."""
    return [(folder, value) for _, _, folder, value in _model_inputs(doc, catalog)]


def _model_inputs(doc: LinkList, catalog: Catalog) -> Iterator[tuple[str, InputSpec, str, str]]:
    """(node, input, models folder, file) for every model-file value of the graph."""
    for name in doc.nodes:
        spec = catalog.get(class_of(name))
        if spec is None:
            continue
        values = doc.values(name)
        for inp in spec.inputs.values():
            value = values.get(inp.name)
            if inp.model_folder and isinstance(value, str):
                yield name, inp, _folder(inp.model_folder), value


def _same_kind(current: str, choices: Sequence[str]) -> str:
    """The choice of the same control kind (canny for canny) when there is one, else the closest name."""
    kind = _CONTROL_KINDS.search(current)
    same = [c for c in choices if kind and kind.group(0).lower() in c.lower()]
    return str(closest_choice(current, same or choices))


def _folder(folder: str | None) -> str:
    return FOLDER_ALIASES.get(folder or "", folder or "")
