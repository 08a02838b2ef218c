"""Refine's value repair: widget values brought into what the catalog and the backend's files allow, and the
validator's `value_not_in_list` errors turned into edits."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from agents.linklist import LinkList, class_of, node_for_api_id
from node_catalog import Catalog, InputSpec
from node_catalog.files import looks_like_model_file

#: Model folders whose file the request chose by name: a missing one is never swapped for another (a LoRA
#: changes what the model draws); validation then says it is missing.
NAMED_BY_REQUEST = frozenset({"loras"})


class _Keep:
    """`fixed_value`'s answer when the value needs no change."""


KEEP: Any = _Keep()


def fix_values(
    doc: LinkList,
    catalog: Catalog,
    fixes: list[str],
    *,
    models: Mapping[str, Sequence[str]] | None,
    bad_models: Sequence[str],
) -> None:
    """Every widget value the node class does not have is dropped; the others are brought into range."""
    for name in doc.nodes:
        spec = catalog[class_of(name)]
        values = doc.values(name)
        for key in list(values):
            inp = spec.inputs.get(key)
            if inp is None or inp.section == "hidden":
                fixes.append(f"{name}: dropped {key!r}, which {spec.name} does not have")
                values.pop(key)
                continue
            if not inp.is_widget:
                continue
            old = values[key]
            new = fixed_value(inp, old, models=models, bad_models=bad_models)
            if new is not KEEP and new != old:
                values[key] = new
                fixes.append(f"{name}.{key}: {old!r} -> {new!r}")


def fixed_value(
    inp: InputSpec,
    value: Any,
    *,
    models: Mapping[str, Sequence[str]] | None,
    bad_models: Sequence[str],
) -> Any:
    """The value an input should hold instead of `value`, or `KEEP` when it is fine as it is."""
    if inp.model_folder in NAMED_BY_REQUEST:
        return KEEP
    if inp.model_folder:
        have = list((models or {}).get(inp.model_folder, ()))
        builtin = [o for o in inp.options or () if not looks_like_model_file(o)]
        choices = [m for m in [*have, *builtin] if m not in bad_models]
        if (have or bad_models) and value not in choices:
            return closest_choice(str(value), choices) if choices else KEEP
        return KEEP
    if inp.type in {"INT", "FLOAT"}:
        number = _to_number(value)
        if number is None:
            return inp.default if inp.default is not None else KEEP
        if inp.min is not None:
            number = max(number, inp.min)
        if inp.max is not None:
            number = min(number, inp.max)
        if inp.type == "INT":
            if inp.step and inp.step > 1:
                # grid from min when min is off-grid (HunyuanVideo length: min 1, step 4 -> 4k+1)
                base = inp.min if inp.min is not None and inp.min % inp.step else 0
                step = int(inp.step)
                number = int(base) + round((number - base) / step) * step
                if inp.max is not None and number > inp.max:
                    number -= step
            return int(number) if isinstance(number, int) else round(number)
        return float(number)
    if inp.type == "BOOLEAN":
        if isinstance(value, str):
            return value.strip().lower() in {"true", "1", "yes", "on"}
        return bool(value)
    if inp.type == "STRING":
        return (
            value
            if isinstance(value, str)
            else json.dumps(value)
            if not isinstance(value, int | float)
            else str(value)
        )
    if inp.options:
        if value in inp.options:
            return KEEP
        return closest_choice(str(value), [str(o) for o in inp.options], default=inp.default)
    return KEEP


def fix_validation(
    doc: LinkList,
    validation: Mapping[str, Any],
    catalog: Catalog,
    *,
    models: Mapping[str, Sequence[str]] | None,
) -> list[str]:
    """Edits for the validator's node errors that the generic passes cannot know (model files)."""
    fixes: list[str] = []
    for node_id, entry in (validation.get("node_errors") or {}).items():
        name = node_for_api_id(doc, str(node_id))
        if name is None:
            continue
        spec = catalog.get(class_of(name))
        for err in entry.get("errors", []):
            info = err.get("extra_info") or {}
            inp, closest = info.get("input_name"), info.get("closest") or []
            spec_input = spec.inputs.get(inp) if spec is not None and inp else None
            if spec_input is not None and spec_input.model_folder in NAMED_BY_REQUEST:
                continue
            if err.get("type") == "value_not_in_list" and inp and closest:
                old = doc.values(name).get(inp)
                doc.values(name)[inp] = closest[0]
                fixes.append(f"{name}.{inp}: {old!r} is not on the backend; using {closest[0]!r}")
    return fixes


def _to_number(value: Any) -> int | float | None:
    """Ints stay ints (a 64-bit seed must not pass through a float)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def closest_choice(value: str, choices: Sequence[str], default: Any = None) -> Any:
    found = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.0)
    if found:
        return found[0]
    return default if default is not None else choices[0]
