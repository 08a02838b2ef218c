"""Execution repair for a ControlNet of another model family than the graph's base model (an SD1.5 ControlNet
on an SDXL checkpoint). ComfyUI validates such a graph (a file name is a file name) and only the sampler
fails, with a shape mismatch inside the ControlNet's cross-attention (`mat1 and mat2 shapes cannot be
multiplied (154x2048 and 768x320)`: SDXL's 2048-wide text into SD1.5's 768-wide projection), at the sampler's
node. The fix swaps the ControlNet for a file of the base model's family, of the same control kind when
there is one.

A file's family: `agents.families`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

from agents.errors import RepairError
from agents.families import BASE_FOLDERS, file_families, folder_name, known_families
from agents.linklist import LinkList, class_of
from agents.value_repair import closest_choice
from node_catalog import Catalog
from node_catalog.specs import InputSpec

SHAPE_MISMATCH = re.compile(
    r"mat1 and mat2 shapes cannot be multiplied|size mismatch|shapes? .{0,60}(?:cannot|can't) be|"
    r"expected .{0,80} channels",
    re.I,
)
CONTROLNET_FOLDER = "controlnet"
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
    known = known_families(catalog)
    base = {
        family
        for folder, value in _model_values(doc, catalog)
        if folder in BASE_FOLDERS
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
                yield name, inp, folder_name(inp.model_folder), value


def _same_kind(current: str, choices: Sequence[str]) -> str:
    """The choice of the same control kind (canny for canny) when there is one, else the closest name."""
    kind = _CONTROL_KINDS.search(current)
    same = [c for c in choices if kind and kind.group(0).lower() in c.lower()]
    return str(closest_choice(current, same or choices))
