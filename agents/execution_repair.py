"""Refine's execution-error repair: one ComfyUI `execution_error` turned into edits of the link list (another
model file after a load failure, a ControlNet of the base model's family after a shape mismatch
(`agents.family_repair`), a default for a value that failed at run time, halved sizes after an OOM)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from agents.errors import RepairError
from agents.family_repair import swap_foreign_controlnets
from agents.linklist import LinkList, class_of, node_for_api_id
from agents.value_repair import KEEP, fixed_value
from node_catalog import Catalog

_LOAD_FAILURE = re.compile(
    r"safetensor|header|deserializ|no such file|not found|invalid load key|unpickl|eof|corrupt|"
    r"could not load|"
    r"failed to load|error\(s\) in loading|unexpected key|missing key|size mismatch|zip archive",
    re.I,
)
_OOM = re.compile(r"out of memory|oom|allocat", re.I)


def fix_execution_error(
    doc: LinkList,
    catalog: Catalog,
    error: Mapping[str, Any],
    *,
    models: Mapping[str, Sequence[str]] | None,
    bad_models: list[str],
) -> list[str]:
    """Turn one `execution_error` into edits; RepairError when there is nothing sensible to change."""
    node_id = str(error.get("node_id") or "")
    name = node_for_api_id(doc, node_id)
    message = f"{error.get('exception_type', '')}: {error.get('exception_message', '')}"
    if name is None or name not in doc.nodes:
        raise RepairError(f"ComfyUI failed at node {node_id}, which the workflow does not have: {message}")
    values = doc.values(name)
    spec = catalog[class_of(name)]
    fixes: list[str] = []
    model_inputs = [i for i in spec.inputs.values() if i.model_folder and i.name in values]
    if model_inputs and _LOAD_FAILURE.search(message):
        for inp in model_inputs:
            bad = values[inp.name]
            if bad not in bad_models:
                bad_models.append(bad)
            new = fixed_value(inp, bad, models=models, bad_models=bad_models)
            if new is KEEP or new == bad:
                raise RepairError(
                    f"{spec.name} could not load {bad!r} ({message.strip()}) and the backend has no "
                    "other "
                    f"file in models/{inp.model_folder}"
                )
            values[inp.name] = new
            fixes.append(
                f"{name}.{inp.name}: {bad!r} failed to load ({message.strip()[:120]}); using {new!r}"
            )
        return fixes
    # A ControlNet of another family fails in the sampler, not in its loader.
    fixes = swap_foreign_controlnets(
        doc, catalog, message, failed_at=spec.name, models=models, bad_models=bad_models
    )
    if fixes:
        return fixes
    for inp in spec.inputs.values():
        value = values.get(inp.name)
        if inp.options and value is not None and str(value) in message and value not in inp.options:
            new = inp.default if inp.default in inp.options else inp.options[0]
            values[inp.name] = new
            fixes.append(f"{name}.{inp.name}: {value!r} failed at run time; using {new!r}")
    if not fixes:
        for inp in spec.inputs.values():
            value = values.get(inp.name)
            if (
                inp.options
                and value is not None
                and inp.default is not None
                and value != inp.default
                and (inp.name in message.lower() or str(value).lower() in message.lower())
            ):
                values[inp.name] = inp.default
                fixes.append(
                    f"{name}.{inp.name}: {value!r} failed at run time; back to the default {inp.default!r}"
                )
    if not fixes and _OOM.search(message):
        for other_name in doc.nodes:
            other = doc.values(other_name)
            for key in ("width", "height", "tile_size"):
                if isinstance(other.get(key), int) and other[key] >= 64:
                    other[key] = max(16, (other[key] // 2) // 16 * 16)
                    fixes.append(f"{other_name}.{key} halved after an out-of-memory error")
    if not fixes:
        raise RepairError(f"no repair known for {spec.name} failing with {message.strip()}")
    return fixes
