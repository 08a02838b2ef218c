"""Refine: make a link list valid against the catalog and the backend's model files, and turn ComfyUI's
validation and execution errors into fixes. Planner and LLM differ only in how an unknown node is replaced:
the planner takes the best-fitting of the 5 closest real nodes, the LLM picks among the same 5.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from agents.errors import LLMError, RepairError
from agents.intent import Intent
from agents.linklist import LinkList, class_of, node_for_api_id, output_slot
from agents.llm import LLMClient, load_prompt
from agents.values import apply_intent
from node_catalog import Catalog, InputSpec, NodeSpec
from node_catalog.files import looks_like_model_file

log = logging.getLogger(__name__)

# Nodes Refine may add when a required link has no producer in the graph (loaders need no links).
_PROVIDERS = {
    "VAE": "VAELoader",
    "CLIP": "DualCLIPLoader",
    "MODEL": "UNETLoader",
    "CLIP_VISION": "CLIPVisionLoader",
    "UPSCALE_MODEL": "UpscaleModelLoader",
    "NOISE": "RandomNoise",
    "SAMPLER": "KSamplerSelect",
}
_LOAD_FAILURE = re.compile(
    r"safetensor|header|deserializ|no such file|not found|invalid load key|unpickl|eof|corrupt|"
    r"could not load|"
    r"failed to load|error\(s\) in loading|unexpected key|missing key|size mismatch|zip archive",
    re.I,
)
_OOM = re.compile(r"out of memory|oom|allocat", re.I)


class NodeChooser(Protocol):
    name: str

    async def choose(self, unknown: str, candidates: list[NodeSpec], context: dict[str, Any]) -> str: ...


class PlannerChooser:
    """The candidate whose inputs and outputs fit the links best; ties go to catalog.closest's order."""

    name = "planner"

    async def choose(self, unknown: str, candidates: list[NodeSpec], context: dict[str, Any]) -> str:
        need_in = context.get("input_types", [])
        need_out = context.get("output_types", [])

        def fit(spec: NodeSpec) -> int:
            have_in = [i.type for i in spec.inputs.values() if not i.is_widget]
            have_out = [o.type for o in spec.outputs]
            return sum(t in have_in for t in need_in) + sum(t in have_out for t in need_out)

        return max(candidates, key=lambda s: (fit(s), -candidates.index(s))).name


class LLMChooser:
    """The LLM picks one of the candidates; an answer outside them is rejected."""

    name = "llm"

    def __init__(self, llm: LLMClient) -> None:
        self.llm = llm

    async def choose(self, unknown: str, candidates: list[NodeSpec], context: dict[str, Any]) -> str:
        names = [c.name for c in candidates]
        schema = {
            "type": "object",
            "required": ["node"],
            "properties": {"node": {"type": "string", "enum": names}, "reason": {"type": "string"}},
        }
        described = [
            {
                "name": c.name,
                "description": c.description[:200],
                "inputs": {i.name: i.type for i in c.inputs.values() if i.section != "hidden"},
                "outputs": [o.type for o in c.outputs],
            }
            for c in candidates
        ]
        user = json.dumps({"unknown_node": unknown, "links": context, "candidates": described}, indent=1)
        answer = await self.llm.complete_json(
            system=load_prompt("refine.md"), user=user, schema=schema, name="choice"
        )
        choice = str(answer["node"])
        if choice not in names:  # the schema's enum already refuses it; kept for non-validating callers
            raise RepairError(f"the LLM chose {choice!r}, which is not one of the candidates {names}")
        return choice


class Refiner:
    """Repairs a LinkList in place and returns what it did (one line per fix)."""

    def __init__(self, catalog: Catalog, chooser: NodeChooser | None = None) -> None:
        self.catalog = catalog
        self.chooser: NodeChooser = chooser or PlannerChooser()

    async def refine(
        self,
        doc: LinkList,
        *,
        models: Mapping[str, Sequence[str]] | None = None,
        bad_models: Sequence[str] = (),
        intent: Intent | None = None,
    ) -> list[str]:
        fixes: list[str] = []
        before = set(doc.nodes)
        await self._replace_unknown(doc, fixes)
        self._fix_links(doc, fixes)
        self._fill_missing(doc, fixes)
        self._ensure_output(doc, fixes, video=bool(intent and intent.is_video))
        if intent is not None:
            # nodes Refine replaced or added take the request's values too, not only their defaults
            fresh = set(doc.nodes) - before
            fixes += [
                f"set {note} from the request" for note in apply_intent(doc, intent, self.catalog, only=fresh)
            ]
        self._fix_values(doc, fixes, models=models, bad_models=bad_models)
        return fixes

    # -- nodes ------------------------------------------------------------------------------------------
    async def _replace_unknown(self, doc: LinkList, fixes: list[str]) -> None:
        for name in list(doc.nodes):
            class_type = class_of(name)
            if class_type in self.catalog:
                continue
            input_types = [self._src_type(doc, s, o) for s, o, d, _ in doc.links if d == name]
            output_types = [self._dst_type(doc, d, i) for s, _, d, i in doc.links if s == name]
            context = {
                "input_types": [t for t in input_types if t],
                "output_types": [t for t in output_types if t],
            }
            hits = self.catalog.closest(
                class_type,
                limit=5,
                inputs=context["input_types"] or None,
                outputs=context["output_types"] or None,
            )
            candidates = [spec for h in hits if (spec := self.catalog.get(h.name)) is not None]
            if not candidates:
                raise RepairError(f"node {class_type!r} does not exist and nothing in the catalog is close")
            try:
                choice = await self.chooser.choose(class_type, candidates, context)
            except LLMError as exc:
                log.warning(
                    "LLM could not choose a replacement for %s (%s); using the planner", class_type, exc
                )
                choice = await PlannerChooser().choose(class_type, candidates, context)
            new = doc.rename_class(name, choice)
            fixes.append(
                f"unknown node {class_type} replaced by {choice} (candidates: {[c.name for c in candidates]})"
            )
            spec = self.catalog[choice]
            # keep only widget values the new class has
            doc.widgets[new] = {k: v for k, v in doc.values(new).items() if k in spec.inputs}

    def _src_type(self, doc: LinkList, src: str, out: str) -> str | None:
        spec = self.catalog.get(class_of(src)) if src in doc.nodes else None
        if spec is None:
            return out if out.isupper() else None
        idx = output_slot(spec, out)
        return spec.outputs[idx].type if idx is not None else None

    def _dst_type(self, doc: LinkList, dst: str, inp: str) -> str | None:
        spec = self.catalog.get(class_of(dst)) if dst in doc.nodes else None
        if spec is None or inp not in spec.inputs:
            return None
        return spec.inputs[inp].type

    # -- links ------------------------------------------------------------------------------------------
    def _fix_links(self, doc: LinkList, fixes: list[str]) -> None:
        kept: list[tuple[str, str, str, str]] = []
        for link in doc.links:
            src, out, dst, inp = link
            if src not in doc.nodes or dst not in doc.nodes:
                fixes.append(f"dropped link {list(link)}: node missing")
                continue
            src_spec, dst_spec = (
                self.catalog[class_of(src)],
                self.catalog[class_of(dst)],
            )
            taken = {i for s, o, d, i in kept if d == dst}
            # the destination input: by name, else the first free link input of the source's type
            if inp not in dst_spec.inputs:
                src_idx = output_slot(src_spec, out)
                src_type = src_spec.outputs[src_idx].type if src_idx is not None else None
                new_inp = next(
                    (
                        i.name
                        for i in dst_spec.inputs.values()
                        if _type_ok(src_type, i) and i.name not in taken
                    ),
                    None,
                )
                if new_inp is None:
                    fixes.append(f"dropped link {list(link)}: {dst_spec.name} has no input {inp!r} for it")
                    continue
                fixes.append(f"link {src}.{out} -> {dst}.{inp} rerouted to input {new_inp}")
                inp = new_inp
            want = dst_spec.inputs[inp].type
            idx = output_slot(src_spec, out)
            if idx is None or not _type_ok(src_spec.outputs[idx].type, dst_spec.inputs[inp]):
                # retype: another output of the same node, else another node of the graph that makes `want`
                alt = next((o for o in src_spec.outputs if _type_ok(o.type, dst_spec.inputs[inp])), None)
                if alt is not None:
                    fixes.append(f"link {src}.{out} -> {dst}.{inp} retyped to output {alt.name} ({want})")
                    out = alt.name
                else:
                    producer = self._producer_in_graph(doc, want, exclude=dst)
                    if producer is None:
                        fixes.append(f"dropped link {list(link)}: {src} makes no {want}")
                        continue
                    fixes.append(
                        f"link into {dst}.{inp} rerouted from {src} to {producer[0]}.{producer[1]} ({want})"
                    )
                    src, out = producer
            if inp in taken:
                fixes.append(f"dropped duplicate link into {dst}.{inp}")
                continue
            doc.values(dst).pop(inp, None)
            kept.append((src, out, dst, inp))
        doc.links = kept

    def _producer_in_graph(self, doc: LinkList, type_: str, *, exclude: str) -> tuple[str, str] | None:
        for name in doc.nodes:
            if name == exclude:
                continue
            spec = self.catalog.get(class_of(name))
            for out in spec.outputs if spec else []:
                if out.type == type_:
                    return name, out.name
        return None

    def _fill_missing(self, doc: LinkList, fixes: list[str]) -> None:
        for name in list(doc.nodes):
            values = doc.values(name)
            spec = self.catalog[class_of(name)]
            linked = doc.incoming(name)
            for inp in spec.required.values():
                if inp.name in linked or (inp.is_widget and inp.name in values):
                    continue
                if inp.is_widget:
                    value = _default_value(inp)
                    if value is None:
                        continue  # an empty COMBO (no model files known): the validator reports it
                    values[inp.name] = value
                    fixes.append(f"{name}.{inp.name} was missing: set to {value!r}")
                    continue
                producer = self._producer_in_graph(doc, inp.type, exclude=name)
                if producer is None and inp.type in _PROVIDERS and _PROVIDERS[inp.type] in self.catalog:
                    cls = _PROVIDERS[inp.type]
                    new = doc.add(cls)
                    producer = (new, self.catalog[cls].outputs[0].name)
                    fixes.append(f"added {cls} to provide {inp.type}")
                    self._fill_widgets(doc, new)
                if producer is None:
                    continue  # left for validation to report as required_input_missing
                doc.links.append((producer[0], producer[1], name, inp.name))
                fixes.append(f"{name}.{inp.name} was unlinked: linked from {producer[0]}.{producer[1]}")

    def _fill_widgets(self, doc: LinkList, name: str) -> None:
        values = doc.values(name)
        for inp in self.catalog[class_of(name)].required.values():
            if inp.is_widget and inp.name not in values and (value := _default_value(inp)) is not None:
                values[inp.name] = value

    def _ensure_output(self, doc: LinkList, fixes: list[str], *, video: bool) -> None:
        specs = {n: self.catalog[class_of(n)] for n in doc.nodes}
        if any(s.output_node for s in specs.values()):
            return
        consumed = {s for s, *_ in doc.links}
        for wanted, saver in (("VIDEO", "SaveVideo"), ("IMAGE", "SaveVideo" if video else "SaveImage")):
            leaf = next(
                (
                    n
                    for n, s in specs.items()
                    if n not in consumed and any(o.type == wanted for o in s.outputs)
                ),
                None,
            ) or next((n for n, s in specs.items() if any(o.type == wanted for o in s.outputs)), None)
            if leaf is None:
                continue
            src_out = next(o.name for o in specs[leaf].outputs if o.type == wanted)
            if wanted == "IMAGE" and video:
                create = doc.add("CreateVideo")
                self._fill_widgets(doc, create)
                doc.links.append((leaf, src_out, create, "images"))
                leaf, src_out = create, "VIDEO"
            save = doc.add(saver)
            self._fill_widgets(doc, save)
            first_link = next(i.name for i in self.catalog[saver].required.values() if not i.is_widget)
            doc.links.append((leaf, src_out, save, first_link))
            fixes.append(f"no output node: added {saver} after {leaf}")
            return

    # -- values -----------------------------------------------------------------------------------------
    def _fix_values(
        self,
        doc: LinkList,
        fixes: list[str],
        *,
        models: Mapping[str, Sequence[str]] | None,
        bad_models: Sequence[str],
    ) -> None:
        for name in doc.nodes:
            spec = self.catalog[class_of(name)]
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
                new = self._fix_value(inp, old, models=models, bad_models=bad_models)
                if new is not _KEEP and new != old:
                    values[key] = new
                    fixes.append(f"{name}.{key}: {old!r} -> {new!r}")

    def _fix_value(
        self,
        inp: InputSpec,
        value: Any,
        *,
        models: Mapping[str, Sequence[str]] | None,
        bad_models: Sequence[str],
    ) -> Any:
        if inp.model_folder:
            have = list((models or {}).get(inp.model_folder, ()))
            builtin = [o for o in inp.options or () if not looks_like_model_file(o)]
            choices = [m for m in [*have, *builtin] if m not in bad_models]
            if (have or bad_models) and value not in choices:
                return _closest(str(value), choices) if choices else _KEEP
            return _KEEP
        if inp.type in {"INT", "FLOAT"}:
            number = _to_number(value)
            if number is None:
                return inp.default if inp.default is not None else _KEEP
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
                return _KEEP
            return _closest(str(value), [str(o) for o in inp.options], default=inp.default)
        return _KEEP

    # -- validation errors ------------------------------------------------------------------------------
    def fix_validation(
        self, doc: LinkList, validation: Mapping[str, Any], *, models: Mapping[str, Sequence[str]] | None
    ) -> list[str]:
        """Edits for the validator's node errors that the generic passes cannot know (model files)."""
        fixes: list[str] = []
        for node_id, entry in (validation.get("node_errors") or {}).items():
            name = node_for_api_id(doc, str(node_id))
            if name is None:
                continue
            for err in entry.get("errors", []):
                info = err.get("extra_info") or {}
                inp, closest = info.get("input_name"), info.get("closest") or []
                if err.get("type") == "value_not_in_list" and inp and closest:
                    old = doc.values(name).get(inp)
                    doc.values(name)[inp] = closest[0]
                    fixes.append(f"{name}.{inp}: {old!r} is not on the backend; using {closest[0]!r}")
        return fixes

    # -- execution errors -------------------------------------------------------------------------------
    def fix_execution_error(
        self,
        doc: LinkList,
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
            raise RepairError(
                f"ComfyUI failed at node {node_id}, which the workflow does not have: {message}"
            )
        values = doc.values(name)
        spec = self.catalog[class_of(name)]
        fixes: list[str] = []
        model_inputs = [i for i in spec.inputs.values() if i.model_folder and i.name in values]
        if model_inputs and _LOAD_FAILURE.search(message):
            for inp in model_inputs:
                bad = values[inp.name]
                if bad not in bad_models:
                    bad_models.append(bad)
                new = self._fix_value(inp, bad, models=models, bad_models=bad_models)
                if new is _KEEP or new == bad:
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
                        f"{name}.{inp.name}: {value!r} failed at run time; "
                        f"back to the default {inp.default!r}"
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


class _Keep:
    pass


_KEEP: Any = _Keep()


def _type_ok(src_type: str | None, inp: InputSpec) -> bool:
    if src_type is None:
        return False
    if inp.type == "*" or src_type == "*":
        return True
    return src_type == inp.type or (inp.is_widget and src_type == inp.type)


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


def _default_value(inp: InputSpec) -> Any:
    if inp.default is not None:
        return inp.default
    if inp.options:
        return inp.options[0]
    if inp.type == "STRING":
        return ""
    if inp.type in {"INT", "FLOAT"}:
        return inp.min if inp.min is not None else 0
    if inp.type == "BOOLEAN":
        return False
    return None


def _closest(value: str, choices: Sequence[str], default: Any = None) -> Any:
    found = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.0)
    if found:
        return found[0]
    return default if default is not None else choices[0]
