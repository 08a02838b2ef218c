"""Reading facts out of an API-format ComfyUI graph (node id -> {class_type, inputs}) without a catalog:
its shape, sizes, frame counts, fps, seeds, prompt texts, output kind and whether it needs weights."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from node_catalog.files import MODEL_EXTENSIONS, looks_like_model_file
from node_catalog.links import is_link, iter_links, negative_feeders

Workflow = Mapping[str, Mapping[str, Any]]

# Input names that carry prompt text in the text encoders of core ComfyUI.
TEXT_INPUTS = frozenset({"text", "text_g", "text_l", "clip_l", "t5xxl", "llama", "prompt", "positive_prompt"})
LENGTH_INPUTS = ("length", "num_frames", "frames", "video_frames", "frame_count")
FPS_INPUTS = ("fps", "frame_rate")
SEED_INPUTS = ("seed", "noise_seed")
# Loaders that read no file from disk.
WEIGHTLESS_VALUES = frozenset({"pixel_space"})
# Loaders of user inputs, not of weights.
INPUT_LOADERS = frozenset({"LoadImage", "LoadImageMask", "LoadImageOutput", "LoadVideo", "LoadAudio"})
VIDEO_OUTPUT_HINTS = ("video", "webm", "animated", "gif", "vhs_")
IMAGE_OUTPUT_HINTS = ("saveimage", "previewimage", "image")
AUDIO_OUTPUT_HINTS = ("audio",)
# Output classes of core ComfyUI and VideoHelperSuite, so the output kind is known without a catalog.
KNOWN_OUTPUT_NODES = frozenset(
    {
        "SaveImage",
        "PreviewImage",
        "SaveAnimatedWEBP",
        "SaveAnimatedPNG",
        "SaveWEBM",
        "SaveVideo",
        "SaveAudio",
        "SaveAudioMP3",
        "SaveAudioOpus",
        "PreviewAudio",
        "VHS_VideoCombine",
        "SaveLatent",
        "SaveImageWebsocket",
        "SaveGLB",
        "PreviewAny",
    }
)


def format_problems(obj: Any) -> list[str]:
    """Why `obj` is not a well-formed API-format graph (empty list: it is one). Checks shape only, no catalog:
    a non-empty object of nodes, each with a `class_type` string and an `inputs` object, links to nodes that
    exist with a non-negative slot."""
    if not isinstance(obj, Mapping):
        return [f"the workflow is a {type(obj).__name__}, not an object of nodes"]
    if not obj:
        return ["the workflow has no node"]
    problems: list[str] = []
    for node_id, node in obj.items():
        if not isinstance(node_id, str) or not node_id:
            problems.append(f"node id {node_id!r} is not a non-empty string")
            continue
        if not isinstance(node, Mapping):
            problems.append(f"node {node_id}: not an object")
            continue
        class_type = node.get("class_type")
        if not isinstance(class_type, str) or not class_type:
            problems.append(f"node {node_id}: no class_type")
        inputs = node.get("inputs", {})
        if not isinstance(inputs, Mapping):
            problems.append(f"node {node_id}: inputs is not an object")
            continue
        for name, value in inputs.items():
            if is_link(value):
                if value[0] not in obj:
                    problems.append(f"node {node_id}: input {name} links to missing node {value[0]!r}")
                elif value[1] < 0:
                    problems.append(f"node {node_id}: input {name} links to negative slot {value[1]}")
    return problems


def _nodes(workflow: Workflow) -> Iterable[tuple[str, str, Mapping[str, Any]]]:
    for node_id, node in workflow.items():
        if isinstance(node, Mapping) and isinstance(node.get("inputs", {}), Mapping):
            yield node_id, str(node.get("class_type", "")), node.get("inputs", {})


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def class_types(workflow: Workflow) -> set[str]:
    return {cls for _, cls, _ in _nodes(workflow) if cls}


def sizes(workflow: Workflow) -> list[tuple[int, int, str]]:
    """Every (width, height, node id) set as plain numbers on one node (latents, empty images, scalers)."""
    out = []
    for node_id, _, inputs in _nodes(workflow):
        w, h = _number(inputs.get("width")), _number(inputs.get("height"))
        if w is not None and h is not None:
            out.append((int(w), int(h), node_id))
    return out


def _batch(workflow: Workflow, node_id: str, seen: frozenset[str] = frozenset()) -> int | None:
    """How many images a node outputs, following core batch nodes; None when it cannot be told."""
    if node_id in seen or node_id not in workflow:
        return None
    node = workflow[node_id]
    cls = node.get("class_type")
    inputs = node.get("inputs", {})
    if not isinstance(inputs, Mapping):
        return None
    seen = seen | {node_id}

    def of(name: str) -> int | None:
        value: Any = inputs.get(name)
        return _batch(workflow, str(value[0]), seen) if is_link(value) else None

    if cls in ("RepeatImageBatch", "RepeatLatentBatch"):
        amount, inner = _number(inputs.get("amount")), of("image") or of("samples") or 1
        return int(amount) * inner if amount is not None else None
    if cls in ("ImageBatch", "LatentBatch"):
        parts = [of(n) for n in ("image1", "image2", "samples1", "samples2")]
        known = [p for p in parts if p is not None]
        return sum(known) if known else None
    if cls in ("LoadImage", "LoadImageMask"):
        return 1
    batch = _number(inputs.get("batch_size"))
    if batch is not None:
        return int(batch)
    # Image-to-image nodes (scale, invert, decode ...) keep the batch of what they are fed.
    for value in inputs.values():
        if is_link(value):
            found = _batch(workflow, value[0], seen)
            if found is not None:
                return found
    return None


def _numbers(workflow: Workflow, names: Iterable[str]) -> list[tuple[float, str]]:
    """(value, node id) of every plain number set on an input named one of `names`."""
    out = []
    for node_id, _, inputs in _nodes(workflow):
        for name in names:
            n = _number(inputs.get(name))
            if n is not None:
                out.append((n, node_id))
    return out


def frame_counts(workflow: Workflow) -> list[tuple[int, str]]:
    """Frame counts a graph asks for: `length`-like inputs of video latents; for a graph that builds a video
    from images (CreateVideo over empty images), the size of the batch fed to it."""
    out = [(int(n), node_id) for n, node_id in _numbers(workflow, LENGTH_INPUTS)]
    if out:
        return out
    for node_id, cls, inputs in _nodes(workflow):
        if cls == "CreateVideo" and is_link(inputs.get("images")):
            total = _batch(workflow, inputs["images"][0])
            if total:
                out.append((total, node_id))
    return out


def fps_values(workflow: Workflow) -> list[tuple[float, str]]:
    return _numbers(workflow, FPS_INPUTS)


def seeds(workflow: Workflow) -> list[tuple[int, str]]:
    return [(int(n), node_id) for n, node_id in _numbers(workflow, SEED_INPUTS)]


def prompt_texts(workflow: Workflow) -> tuple[list[str], list[str]]:
    """(positive texts, negative texts). A text is negative when its encoder feeds, through conditioning,
    an input named `negative`; every other prompt text counts as positive."""
    negative_nodes = negative_feeders((src, dst, name) for src, _, dst, name in iter_links(workflow))
    positive: list[str] = []
    negative: list[str] = []
    for node_id, _, inputs in _nodes(workflow):
        for name, value in inputs.items():
            if name in TEXT_INPUTS and isinstance(value, str) and value.strip():
                (negative if node_id in negative_nodes else positive).append(value)
    return positive, negative


def output_nodes(workflow: Workflow, output_classes: Iterable[str] = ()) -> list[tuple[str, str]]:
    known = KNOWN_OUTPUT_NODES | set(output_classes)
    return [(node_id, cls) for node_id, cls, _ in _nodes(workflow) if cls in known]


def output_kinds(workflow: Workflow, output_classes: Iterable[str] = ()) -> set[str]:
    """What the graph saves: "video", "image", "audio" (from its output nodes' class names)."""
    kinds: set[str] = set()
    for _, cls in output_nodes(workflow, output_classes):
        low = cls.lower()
        if any(h in low for h in VIDEO_OUTPUT_HINTS):
            kinds.add("video")
        elif any(h in low for h in AUDIO_OUTPUT_HINTS):
            kinds.add("audio")
        elif any(h in low for h in IMAGE_OUTPUT_HINTS):
            kinds.add("image")
    return kinds


def model_files(workflow: Workflow) -> list[tuple[str, str, str, str]]:
    """(node id, class, input name, file name) of every weight file the graph loads."""
    out = []
    for node_id, cls, inputs in _nodes(workflow):
        if cls in INPUT_LOADERS:
            continue
        for name, value in inputs.items():
            if looks_like_model_file(value):
                out.append((node_id, cls, name, value))
    return out


def needs_weights(workflow: Workflow) -> bool:
    """Whether running the graph loads model weights (so it cannot run on a backend with placeholder files).
    A loader class counts even when its file name has an unusual extension."""
    if model_files(workflow):
        return True
    for _, cls, inputs in _nodes(workflow):
        if cls in INPUT_LOADERS or "Loader" not in cls:
            continue
        values = [v for v in inputs.values() if isinstance(v, str)]
        if not values or any(v not in WEIGHTLESS_VALUES for v in values if v.endswith(MODEL_EXTENSIONS)):
            return True
        if not any(v in WEIGHTLESS_VALUES for v in values):
            return True
    return False


def input_files(workflow: Workflow) -> list[tuple[str, str, str, str]]:
    """(node id, class, input name, file name) of every user input file the graph loads."""
    out = []
    for node_id, cls, inputs in _nodes(workflow):
        if cls in INPUT_LOADERS:
            for name, value in inputs.items():
                if isinstance(value, str) and name in ("image", "file", "video", "audio"):
                    out.append((node_id, cls, name, value))
    return out


def infer_task(workflow: Workflow) -> str:
    """A best guess of the task a graph performs, for systems that report no intent."""
    kinds = output_kinds(workflow)
    classes = class_types(workflow)
    loads_image = bool(classes & {"LoadImage", "LoadImageOutput"})
    loads_video = "LoadVideo" in classes
    samples = any("Sampler" in c or c.startswith("KSampler") for c in classes)
    if "video" in kinds:
        if loads_video:
            return "video-to-video"
        return "image-to-video" if loads_image else "text-to-video"
    if loads_image:
        upscales = any("Upscale" in c or c.startswith("ImageScale") for c in classes)
        return "upscale" if upscales and not samples else "image-to-image"
    return "text-to-image"
