"""Fill a link list's widget values from the Intent, by what each input means (not by template)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from agents.compose.wiring import native_scale
from agents.errors import InputRequiredError
from agents.families import graph_family, intent_family
from agents.intent import Intent
from agents.linklist import LinkList, class_of
from node_catalog import Catalog
from node_catalog.links import is_link, iter_links, negative_feeders
from node_catalog.topology import topological_order

_TEXT_INPUTS = {"text", "prompt", "clip_l", "t5xxl"}
_SIZE_BLOCKERS = {
    "x",
    "y",
    "crop_w",
    "left",
}  # crop/composite nodes have width/height that are not the output size


def is_negative(doc: LinkList, node: str) -> bool:
    """Whether a text encoder's conditioning ends up in some sampler's `negative` input."""
    return node in negative_feeders((src, dst, dst_in) for src, _, dst, dst_in in doc.links)


def apply_intent(
    doc: LinkList, intent: Intent, catalog: Catalog, *, only: set[str] | None = None
) -> list[str]:
    """Write the intent's values into every matching widget (of `only` nodes when given); returns what
    was set, for the step log."""
    notes: list[str] = []
    for name in doc.nodes:
        if only is not None and name not in only:
            continue
        class_type = class_of(name)
        spec = catalog.get(class_type)
        if spec is None:
            continue
        values = doc.values(name)
        widgets = {i.name: i for i in spec.inputs.values() if i.is_widget and i.section != "hidden"}
        linked = set(doc.incoming(name))

        def put(
            inp: str,
            value: Any,
            *,
            name: str = name,
            values: dict[str, Any] = values,
            widgets: dict[str, Any] = widgets,
            linked: set[str] = linked,
        ) -> None:
            if value is None or inp not in widgets or inp in linked:
                return
            if values.get(inp) != value:
                values[inp] = value
                notes.append(f"{name}.{inp}={value!r}")

        for inp in _TEXT_INPUTS & set(widgets):
            if widgets[inp].type != "STRING":
                continue
            if is_negative(doc, name):
                put(inp, intent.negative_prompt or None)
            else:
                put(inp, intent.prompt or None)
        if "width" in widgets and "height" in widgets and not (_SIZE_BLOCKERS & set(widgets)):
            if class_type != "ImageScaleBy":
                put("width", intent.width)
                put("height", intent.height)
            if "length" in widgets:
                put("length", intent.frames)
        if class_type == "RepeatImageBatch":
            put("amount", intent.frames)
        put("fps", intent.fps)
        put("seed", intent.seed)
        put("noise_seed", intent.seed)
        put("steps", intent.steps)
        if "cfg" in widgets:
            put("cfg", intent.guidance)
        elif "guidance" in widgets:
            put("guidance", intent.guidance)
        put("denoise", intent.denoise)
        put("scale_by", intent.upscale_factor)
        if class_type == "EmptyImage":
            put("color", intent.color)
        if class_type == "LoadImage":
            put("image", intent.input_image)
        if class_type == "LoadVideo":
            put("file", intent.input_video)
        if (
            intent.output_format
            and "format" in widgets
            and intent.output_format in (widgets["format"].options or ())
        ):
            put("format", intent.output_format)
        for key, value in intent.extra_params.items():
            cls, _, inp = key.rpartition(".")
            if cls and cls not in {class_type, name}:
                continue
            put(inp, value)
    return notes


_UPLOADS = {"image_upload": "image", "video_upload": "video"}


def require_inputs(doc: LinkList, intent: Intent, catalog: Catalog) -> None:
    """Refuse a graph that loads a user file the request did not provide: a template's example file
    (`example.png`) would be rejected by ComfyUI or, worse, silently animate someone else's picture."""
    for name in doc.nodes:
        class_type = class_of(name)
        spec = catalog.get(class_type)
        if spec is None:
            continue
        for inp in spec.inputs.values():
            options = inp.raw[1] if isinstance(inp.raw, list | tuple) and len(inp.raw) > 1 else None
            kind = next(
                (k for f, k in _UPLOADS.items() if isinstance(options, dict) and options.get(f)), None
            )
            if kind is None or inp.name in doc.incoming(name):
                continue
            given = intent.input_image if kind == "image" else intent.input_video
            explicit = {f"{class_type}.{inp.name}", f"{name}.{inp.name}"} & set(intent.extra_params)
            if not given and not explicit:
                raise InputRequiredError(
                    f"{class_type} needs an input {kind}: upload it to ComfyUI's input folder and name "
                    f"the file (input_{kind})",
                    kind=kind,
                )


def apply_model_files(
    doc: LinkList,
    intent: Intent,
    catalog: Catalog,
    models: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Put each model file the request names ("using dreamshaper_8.safetensors") into the loaders whose
    list has it: the backend's files of that folder when known, else the catalog's choices. Returns what was
    set, and a note for a named file no loader of the graph lists (the default stays; validation and the
    step log say so), so a request never silently runs another model than the one it named."""
    if not intent.model_files:
        return []
    notes: list[str] = []
    used: set[str] = set()
    for name in doc.nodes:
        spec = catalog.get(class_of(name))
        if spec is None:
            continue
        values = doc.values(name)
        linked = set(doc.incoming(name))
        for inp in spec.inputs.values():
            if inp.model_folder is None or inp.name in linked:
                continue
            listed = models.get(inp.model_folder) if models is not None else None
            choices = list(listed if listed is not None else (inp.options or ()))
            for wanted in intent.model_files:
                match = _listed_as(wanted, choices)
                if match is None or match in used:
                    continue
                used.add(match)
                if values.get(inp.name) != match:
                    values[inp.name] = match
                    notes.append(f"{name}.{inp.name}={match!r} (named in the request)")
                break
    for wanted in intent.model_files:
        if _listed_as(wanted, sorted(used)) is None:
            notes.append(f"the request names {wanted!r}, which no loader of this graph lists on the backend")
    return notes


def _listed_as(wanted: str, choices: Sequence[Any]) -> str | None:
    """The choice that is the named file: exact, else the same file name in a subfolder or another case."""
    low = wanted.lower()
    for choice in choices:
        if isinstance(choice, str) and choice == wanted:
            return choice
    for choice in choices:
        if isinstance(choice, str) and choice.replace("\\", "/").rsplit("/", 1)[-1].lower() == low:
            return choice
    return None


_SEED_INPUTS = ("seed", "noise_seed")
_FPS_INPUTS = ("fps", "frame_rate")


def describe_graph(intent: Intent, workflow: Mapping[str, Mapping[str, Any]], catalog: Catalog) -> Intent:
    """The intent as the graph carries it out: family, size, frames, fps, duration, steps, seed and prompt
    texts read back from the API graph (the inputs `apply_intent` writes), so an answer never describes a
    first reading the composer or a template overrode (a Wan clip of 81 frames at 16 fps, not HunyuanVideo's
    73 at 24). The size is the one the output receives: carried from the node that sets it through every
    resize on the way (1024x1024 upscaled 2x is 2048x2048). Where several nodes set a value, the one nearest
    the output (last in the graph's order) wins; a value the graph does not set is None. Task, style,
    inputs and the request's other fields stay."""
    canvas: tuple[int, int] | None = None
    sizes: dict[str, tuple[int, int]] = {}  # each node's picture size, carried along the links
    delivered: tuple[int, int] | None = None  # the size an output node saves
    frames: int | None = None
    numbers: dict[str, float] = {}
    positive: list[str] = []
    negative: list[str] = []
    encoded = False
    negatives = negative_feeders((s, d, i) for s, _, d, i in iter_links(workflow))
    for node_id in topological_order(workflow):
        class_type = str(workflow[node_id].get("class_type"))
        inputs = workflow[node_id].get("inputs") or {}
        spec = catalog.get(class_type)
        widgets = {i.name for i in spec.inputs.values() if i.is_widget} if spec is not None else set(inputs)
        plain = {k: v for k, v in inputs.items() if k in widgets and not is_link(v)}
        width, height = _count(plain.get("width")), _count(plain.get("height"))
        sized = width is not None and height is not None and not (_SIZE_BLOCKERS & set(widgets))
        if sized and class_type != "ImageScaleBy" and width and height:
            canvas = (int(width), int(height))
            frames = int(n) if (n := _count(plain.get("length"))) is not None else frames
        size = _node_size(workflow, node_id, plain, sizes, sized=sized)
        if size is not None:
            sizes[node_id] = size
            if spec is not None and spec.output_node:
                delivered = size
        if class_type == "RepeatImageBatch" and (n := _count(plain.get("amount"))) is not None:
            frames = int(n)
        if (n := _count(plain.get("batch_size"))) is not None:
            numbers["batch"] = n
        for field, names in (("fps", _FPS_INPUTS), ("seed", _SEED_INPUTS), ("steps", ("steps",))):
            for name in names:
                if (n := _count(plain.get(name))) is not None:
                    numbers[field] = n
        for name in _TEXT_INPUTS & set(plain):
            encoded = encoded or node_id not in negatives
            if isinstance(plain[name], str) and plain[name].strip():
                (negative if node_id in negatives else positive).append(plain[name])
    family = intent_family(graph_family(workflow, catalog))
    fps = numbers.get("fps") if frames is not None or intent.is_video else None
    canvas = delivered or canvas
    update: dict[str, Any] = {
        "model_family": family if family is not None else intent.model_family,
        "width": canvas[0] if canvas else None,
        "height": canvas[1] if canvas else None,
        "frames": frames,
        "fps": fps,
        "duration": round(frames / fps, 2) if frames and fps else None,
        "steps": int(numbers["steps"]) if "steps" in numbers else None,
        "seed": int(numbers["seed"]) if "seed" in numbers else None,
    }
    extra = dict(intent.extra_params)
    if "batch_size" in extra or numbers.get("batch", 1) > 1:
        # the count the graph makes ("3 variations" of an edit that makes one picture is one picture)
        extra.pop("batch_size", None)
        if numbers.get("batch", 1) > 1:
            extra["batch_size"] = int(numbers["batch"])
        update["extra_params"] = extra
    if encoded:  # a graph with a prompt input says what it is given, an empty one too
        update["prompt"] = positive[0] if positive else ""
    if negative:  # a graph without a negative input (HunyuanVideo's guider) keeps the request's
        update["negative_prompt"] = negative[0]
    try:
        return Intent.model_validate({**intent.model_dump(), **update})
    except ValidationError as exc:  # a graph value outside the intent's ranges (fps 500): left unsaid
        bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
        kept = {k: v for k, v in update.items() if k not in bad}
        return Intent.model_validate({**intent.model_dump(), **kept, **dict.fromkeys(bad & set(update))})


def _node_size(
    workflow: Mapping[str, Mapping[str, Any]],
    node_id: str,
    plain: Mapping[str, Any],
    sizes: Mapping[str, tuple[int, int]],
    *,
    sized: bool,
) -> tuple[int, int] | None:
    """The picture size a node puts out: its own width/height, else its first sized input's, changed by
    what the node does to it (a scale factor, an upscale model's own factor, outpaint padding)."""
    node = workflow[node_id]
    class_type = str(node.get("class_type"))
    inputs = node.get("inputs") or {}
    source = next((sizes[str(v[0])] for v in inputs.values() if is_link(v) and str(v[0]) in sizes), None)
    width, height = _count(plain.get("width")), _count(plain.get("height"))
    if sized and class_type != "ImageScaleBy" and width is not None and height is not None:
        if width and height:
            return int(width), int(height)
        if source is not None and (width or height):  # a side of 0 keeps the picture's shape
            w, h = source
            return (int(width), round(h * width / w)) if width else (round(w * height / h), int(height))
    if source is None:
        return None
    factor = _count(plain.get("scale_by"))
    if class_type == "ImageUpscaleWithModel":
        loader = inputs.get("upscale_model")
        linked = workflow.get(str(loader[0])) if is_link(loader) and loader is not None else None
        name = (linked.get("inputs") or {}).get("model_name") if linked is not None else None
        factor = native_scale(name) if isinstance(name, str) else None
    if factor:
        return round(source[0] * factor), round(source[1] * factor)
    pads = [_count(plain.get(side)) for side in ("left", "right", "top", "bottom")]
    if class_type == "ImagePadForOutpaint" and None not in pads:
        left, right, top, bottom = (int(p or 0) for p in pads)
        return source[0] + left + right, source[1] + top + bottom
    return source


def _count(value: Any) -> float | None:
    """A plain number a widget holds (booleans and links are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
