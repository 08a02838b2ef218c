"""Typed node specs parsed from ComfyUI's `/object_info`, with lookup and ranked search."""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from node_catalog.errors import CatalogError

logger = logging.getLogger(__name__)

Section = Literal["required", "optional", "hidden"]
CatalogSource = Literal["bundled", "object_info", "live"]

WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".pt2", ".pkl", ".onnx")

# ComfyUI folder names (folder_paths) for the loader inputs whose COMBO options are the backend's files.
_FOLDER_BY_INPUT: dict[str, str] = {
    "ckpt_name": "checkpoints",
    "lora_name": "loras",
    "unet_name": "diffusion_models",
    "vae_name": "vae",
    "clip_name": "text_encoders",
    "clip_name1": "text_encoders",
    "clip_name2": "text_encoders",
    "clip_name3": "text_encoders",
    "clip_name4": "text_encoders",
    "control_net_name": "controlnet",
    "style_model_name": "style_models",
    "gligen_name": "gligen",
    "config_name": "configs",
    "hypernetwork_name": "hypernetworks",
    "audio_encoder_name": "audio_encoders",
    "model_path": "diffusers",
}
_FOLDER_BY_CLASS_INPUT: dict[tuple[str, str], str] = {
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("UpscaleModelLoader", "model_name"): "upscale_models",
    ("ModelPatchLoader", "name"): "model_patches",
    ("PhotoMakerLoader", "photomaker_model_name"): "photomaker",
    ("LatentUpscaleModelLoader", "model_name"): "latent_upscale_models",
    # not model files but the backend's input/ directory, listed the same way
    ("LoadImage", "image"): "input",
    ("LoadImageMask", "image"): "input",
    ("LoadVideo", "file"): "input",
    ("LoadAudio", "audio"): "input",
    ("LoadLatent", "latent"): "input",
}
# Aliases ComfyUI accepts for the same folder (folder_paths.map_legacy).
FOLDER_ALIASES: dict[str, str] = {"clip": "text_encoders", "unet": "diffusion_models"}


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One input of a node, as `/object_info` declares it."""

    name: str
    type: str  # "INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", "*", or a link type such as "MODEL"
    section: Section
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    options: tuple[Any, ...] | None = None  # COMBO choices (old list form and new {"options": [...]} form)
    multiline: bool = False
    is_widget: bool = False  # a value typed in the editor, not a link
    raw: tuple[Any, ...] = ()  # the declaration exactly as in /object_info: [type, {extra}]
    combo_style: Literal["list", "options", ""] = (
        ""  # "list": ComfyUI checks membership; "options": it does not
    )
    model_folder: str | None = None  # the models/<folder> whose files this COMBO lists
    control_after_generate: bool = False

    @property
    def extra(self) -> dict[str, Any]:
        return dict(self.raw[1]) if len(self.raw) > 1 and isinstance(self.raw[1], dict) else {}

    @property
    def comfy_type(self) -> Any:
        """The type ComfyUI's validator sees: the options list for old-style COMBOs, else the type string."""
        return self.raw[0] if self.raw else self.type


@dataclass(frozen=True, slots=True)
class OutputSpec:
    name: str
    type: str
    is_list: bool = False
    tooltip: str | None = None


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """A node class: its inputs in ComfyUI's `input_order`, its outputs and flags."""

    name: str
    display_name: str
    category: str
    description: str
    inputs: dict[str, InputSpec]
    outputs: list[OutputSpec]
    output_node: bool = False
    deprecated: bool = False
    experimental: bool = False
    api_node: bool = False
    python_module: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def _section(self, section: Section) -> dict[str, InputSpec]:
        return {k: v for k, v in self.inputs.items() if v.section == section}

    @property
    def required(self) -> dict[str, InputSpec]:
        return self._section("required")

    @property
    def optional(self) -> dict[str, InputSpec]:
        return self._section("optional")

    @property
    def hidden(self) -> dict[str, InputSpec]:
        return self._section("hidden")

    @property
    def widgets(self) -> list[InputSpec]:
        """Required and optional value inputs in the order the editor lays out its widgets."""
        return [i for i in self.inputs.values() if i.is_widget and i.section != "hidden"]

    def output_slot(self, name_or_type: str) -> int | None:
        """Slot index of an output by name, falling back to the first output of that type."""
        for idx, out in enumerate(self.outputs):
            if out.name == name_or_type:
                return idx
        for idx, out in enumerate(self.outputs):
            if out.type == name_or_type:
                return idx
        return None


@dataclass(frozen=True, slots=True)
class SearchHit:
    name: str
    score: float
    display_name: str
    category: str
    reason: str = ""


def _num(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _parse_input(node: str, name: str, decl: Any, section: Section) -> InputSpec:
    if isinstance(decl, str):  # hidden inputs are declared as a bare type name ("PROMPT")
        decl = [decl]
    if not isinstance(decl, (list, tuple)) or not decl:
        raise CatalogError(f"node {node!r}: input {name!r} has a malformed declaration {decl!r}")
    raw_type = decl[0]
    extra: dict[str, Any] = decl[1] if len(decl) > 1 and isinstance(decl[1], dict) else {}
    options: tuple[Any, ...] | None = None
    combo_style: Literal["list", "options", ""] = ""
    if isinstance(raw_type, (list, tuple)):
        type_name, options, combo_style = "COMBO", tuple(raw_type), "list"
    elif raw_type == "COMBO":
        type_name, options, combo_style = "COMBO", tuple(extra.get("options") or ()), "options"
    elif isinstance(raw_type, str):
        type_name = raw_type
    else:
        raise CatalogError(f"node {node!r}: input {name!r} has a type of unexpected form {raw_type!r}")
    folder = _FOLDER_BY_CLASS_INPUT.get((node, name))
    if folder is None and type_name == "COMBO":
        folder = _FOLDER_BY_INPUT.get(name)
    is_widget = type_name in WIDGET_TYPES and not extra.get("forceInput", False)
    return InputSpec(
        name=name,
        type=type_name,
        section=section,
        default=extra.get("default"),
        min=_num(extra.get("min")),
        max=_num(extra.get("max")),
        step=_num(extra.get("step")),
        options=options,
        multiline=bool(extra.get("multiline", False)),
        is_widget=is_widget,
        raw=tuple(decl),
        combo_style=combo_style,
        model_folder=folder,
        control_after_generate=bool(extra.get("control_after_generate", False)),
    )


def parse_node(name: str, info: Mapping[str, Any]) -> NodeSpec:
    """One `/object_info` entry -> NodeSpec; CatalogError when it is not the shape ComfyUI serves."""
    if not isinstance(info, Mapping):
        raise CatalogError(f"node {name!r}: expected an object, got {type(info).__name__}")
    declared = info.get("input") or {}
    order = info.get("input_order") or {}
    inputs: dict[str, InputSpec] = {}
    for section in ("required", "optional", "hidden"):
        decls = declared.get(section) or {}
        names = [n for n in order.get(section, []) if n in decls] + [
            n for n in decls if n not in order.get(section, [])
        ]
        for input_name in names:
            if input_name not in inputs:  # ComfyUI resolves required before optional before hidden
                inputs[input_name] = _parse_input(name, input_name, decls[input_name], section)
    types = list(info.get("output") or [])
    names_out = list(info.get("output_name") or [])
    is_list = list(info.get("output_is_list") or [])
    tooltips = list(info.get("output_tooltips") or [])
    outputs = []
    for idx, out_type in enumerate(types):
        type_name = "COMBO" if isinstance(out_type, list) else str(out_type)
        outputs.append(
            OutputSpec(
                name=str(names_out[idx]) if idx < len(names_out) else type_name,
                type=type_name,
                is_list=bool(is_list[idx]) if idx < len(is_list) else False,
                tooltip=tooltips[idx] if idx < len(tooltips) else None,
            )
        )
    return NodeSpec(
        name=name,
        display_name=str(info.get("display_name") or name),
        category=str(info.get("category") or ""),
        description=str(info.get("description") or ""),
        inputs=inputs,
        outputs=outputs,
        output_node=bool(info.get("output_node", False)),
        deprecated=bool(info.get("deprecated", False)),
        experimental=bool(info.get("experimental", False)),
        api_node=bool(info.get("api_node", False)),
        python_module=str(info.get("python_module") or ""),
        raw=info,
    )


_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+")


def _tokens(text: str) -> set[str]:
    return {t.lower() for t in _WORD.findall(text.replace("_", " "))}


def types_match(received: str, expected: str) -> bool:
    """ComfyUI's link type rule: `*` on either side, or overlapping comma-separated unions."""
    if received == expected or received == "*" or expected == "*":
        return True
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in expected.split(",")}
    return bool(got & want)


class Catalog:
    """The node classes one ComfyUI backend offers."""

    def __init__(self, nodes: Mapping[str, NodeSpec], *, source: CatalogSource = "object_info") -> None:
        self._nodes: dict[str, NodeSpec] = dict(nodes)
        self.source: CatalogSource = source
        self._lower = {n.lower(): n for n in self._nodes}
        self._tokens = {n: _tokens(f"{n} {s.display_name}") for n, s in self._nodes.items()}

    @classmethod
    def from_object_info(cls, data: Mapping[str, Any], *, source: CatalogSource = "object_info") -> Catalog:
        if not isinstance(data, Mapping):
            raise CatalogError(f"object_info must be an object of node classes, got {type(data).__name__}")
        return cls({name: parse_node(name, info) for name, info in data.items()}, source=source)

    @classmethod
    def bundled(cls) -> Catalog:
        """The snapshot shipped in node_catalog/data/object_info.json (parsed once per process)."""
        return _bundled()

    @classmethod
    async def live(cls, client: Any) -> Catalog:
        """Fetch `/object_info` from a backend through a `comfyui_client.ComfyClient`."""
        from node_catalog.provider import fetch_live

        return await fetch_live(client)

    @property
    def models_authoritative(self) -> bool:
        """Whether the model-file COMBO options are the backend's real files (not a snapshot's)."""
        return self.source != "bundled"

    def get(self, name: str) -> NodeSpec | None:
        return self._nodes.get(name)

    def __getitem__(self, name: str) -> NodeSpec:
        return self._nodes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(self._nodes.values())

    def names(self) -> list[str]:
        return list(self._nodes)

    def producers(self, output_type: str) -> list[NodeSpec]:
        return [s for s in self._nodes.values() if any(types_match(o.type, output_type) for o in s.outputs)]

    def search(
        self,
        query: str,
        *,
        input_type: str | None = None,
        output_type: str | None = None,
        category: str | None = None,
        limit: int = 10,
    ) -> list[SearchHit]:
        """Rank nodes by name, display name, category and description against `query`; filter by types."""
        q = query.strip().lower()
        q_tokens = _tokens(query)
        hits: list[SearchHit] = []
        for name, spec in self._nodes.items():
            if input_type and not any(
                types_match(input_type, i.type) for i in spec.inputs.values() if i.section != "hidden"
            ):
                continue
            if output_type and not any(types_match(o.type, output_type) for o in spec.outputs):
                continue
            if category and not spec.category.lower().startswith(category.lower()):
                continue
            if not q:
                score, reason = 0.5, "filter"
            else:
                score, reason = self._score(q, q_tokens, spec)
                if score <= 0.0:
                    continue
            if spec.deprecated:
                score *= 0.5
            if spec.api_node:  # paid cloud nodes rank after the ones that run on the backend itself
                score *= 0.9
            hits.append(SearchHit(name, round(score, 4), spec.display_name, spec.category, reason))
        hits.sort(key=lambda h: (-h.score, h.name))
        return hits[:limit]

    def _score(self, q: str, q_tokens: set[str], spec: NodeSpec) -> tuple[float, str]:
        name, display = spec.name.lower(), spec.display_name.lower()
        if q in (name, display):
            return 1.0, "exact name"
        best, reason = 0.0, ""
        if q in name or q in display:
            best, reason = 0.8 + 0.1 * len(q) / max(len(name), 1), "name contains query"
        node_tokens = self._tokens[spec.name]
        if q_tokens:
            overlap = len(q_tokens & node_tokens) / len(q_tokens)
            if overlap * 0.75 > best:
                best, reason = overlap * 0.75, "name words"
        ratio = difflib.SequenceMatcher(None, q, name).ratio()
        if ratio * 0.7 > best and ratio > 0.5:
            best, reason = ratio * 0.7, "similar name"
        if best < 0.3 and q_tokens:
            text = _tokens(f"{spec.category} {spec.description}")
            overlap = len(q_tokens & text) / len(q_tokens)
            if overlap * 0.4 > best:
                best, reason = overlap * 0.4, "category/description"
        return best, reason

    def closest(
        self,
        name: str,
        *,
        limit: int = 5,
        inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
    ) -> list[SearchHit]:
        """Real nodes nearest to a (possibly invented) class name, optionally by input/output types."""
        if name in self._nodes:
            spec = self._nodes[name]
            return [SearchHit(name, 1.0, spec.display_name, spec.category, "exact name")]
        low = name.lower()
        if low in self._lower:
            real = self._nodes[self._lower[low]]
            return [SearchHit(real.name, 0.99, real.display_name, real.category, "case differs")]
        q_tokens = _tokens(name)
        # the last word names the node's role (Sampler, Loader, Encode, ...): sharing it matters most
        q_words = [w for w in _WORD.findall(name.replace("_", " ")) if w.isalpha() and len(w) > 2]
        q_role = q_words[-1].lower() if q_words else ""
        hits = []
        for spec in self._nodes.values():
            ratio = difflib.SequenceMatcher(None, low, spec.name.lower()).ratio()
            tok = self._tokens[spec.name]
            overlap = len(q_tokens & tok) / max(len(q_tokens | tok), 1)
            score = 0.55 * ratio + 0.45 * overlap
            words = [w for w in _WORD.findall(spec.name.replace("_", " ")) if w.isalpha() and len(w) > 2]
            if q_role and words and words[-1].lower() == q_role:
                score += 0.1
            if spec.api_node:
                score *= 0.9
            if inputs:
                have = {i.type for i in spec.inputs.values()}
                score += 0.15 * sum(1 for t in inputs if t in have) / len(inputs)
            if outputs:
                have_out = {o.type for o in spec.outputs}
                score += 0.15 * sum(1 for t in outputs if t in have_out) / len(outputs)
            if spec.deprecated:
                score *= 0.8
            hits.append(SearchHit(spec.name, round(score, 4), spec.display_name, spec.category, "similar"))
        hits.sort(key=lambda h: (-h.score, h.name))
        return hits[:limit]


@lru_cache(maxsize=1)
def _bundled() -> Catalog:
    text = resources.files("node_catalog").joinpath("data/object_info.json").read_text(encoding="utf-8")
    return Catalog.from_object_info(json.loads(text), source="bundled")


def looks_like_model_file(value: Any) -> bool:
    return isinstance(value, str) and value.lower().endswith(MODEL_EXTENSIONS)


def closest_names(name: str, candidates: Sequence[str], *, limit: int = 3) -> list[str]:
    """Nearest strings (e.g. model file names the backend has) to a missing one."""
    found = difflib.get_close_matches(name, list(candidates), n=limit, cutoff=0.3)
    if len(found) < limit:
        low = name.lower().rsplit("/", 1)[-1].split(".")[0]
        for cand in candidates:
            if cand not in found and low and low[:6] in cand.lower():
                found.append(cand)
                if len(found) >= limit:
                    break
    return found
