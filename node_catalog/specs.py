"""Typed node specs parsed from one ComfyUI `/object_info` entry: inputs, outputs, flags, link type rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from node_catalog.errors import CatalogError

Section = Literal["required", "optional", "hidden"]

WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})

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


def types_match(received: str, expected: str) -> bool:
    """ComfyUI's link type rule: `*` on either side, or overlapping comma-separated unions."""
    if received == expected or received == "*" or expected == "*":
        return True
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in expected.split(",")}
    return bool(got & want)


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
