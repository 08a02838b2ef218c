"""The gateway's own safety checks on a workflow (errors carry `extra_info["origin"] == "gateway"`).

- Loader paths: a file a node reads (LoadImage & co., any model-file COMBO, any input with an upload button)
  must name a file inside ComfyUI's folders: no absolute path, no `..`, no drive letter, and no " [output]" /
  " [temp]" annotation (ComfyUI joins an annotated name onto output/ or temp/ without confining it, so
  "/etc/x.png [output]" reads any image on its host, and other users' outputs are not inputs).
- Cost policy: width x height x frames x batch of any one node is bounded (`max_pixels`), so one request
  cannot take the backend out of memory with every queued job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from node_catalog.catalog import Catalog
from node_catalog.input_checks import CUSTOM_FILE_CHECKS
from node_catalog.rules import GATEWAY
from node_catalog.specs import InputSpec

UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload", "upload")
_DRIVE = re.compile(r"^[a-zA-Z]:")  # anchored, no repetition: linear
WIDTH_INPUTS = ("width",)
HEIGHT_INPUTS = ("height",)
FRAME_INPUTS = ("length", "frames", "num_frames", "video_frames", "frame_count")
BATCH_INPUTS = ("batch_size", "amount")

GATEWAY_CHECKS = frozenset({"input_path_not_allowed", "cost_exceeded"})
NodeErrors = dict[str, list[dict[str, Any]]]


def path_problem(value: str) -> str | None:
    """Why `value` may not name a loader's file (None when it may)."""
    if "\x00" in value:
        return "it contains a NUL character"
    for note in (" [output]", " [temp]"):
        if value.endswith(note):
            return (
                f"the {note.strip()} annotation reads outside the input folder: "
                "upload the file (POST /api/inputs)"
            )
    name = value.removesuffix(" [input]")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "it is an absolute path: name a file inside ComfyUI's folders"
    if ".." in re.split(r"[/\\]", name):
        return "it climbs out of ComfyUI's folders with '..'"
    return None


def is_file_input(class_type: str, ispec: InputSpec) -> bool:
    extra = ispec.extra
    return (
        (class_type, ispec.name) in CUSTOM_FILE_CHECKS
        or ispec.model_folder is not None
        or any(extra.get(flag) for flag in UPLOAD_FLAGS)
    )


def gateway_node_errors(
    workflow: Mapping[str, Any], catalog: Catalog, *, max_pixels: int | None
) -> NodeErrors:
    """node id -> the gateway errors of that node (loader paths, cost)."""
    found: NodeErrors = {}
    for node_id, node in workflow.items():
        spec = catalog.get(node["class_type"])
        inputs = node.get("inputs")
        if spec is None or not isinstance(inputs, Mapping):
            continue
        for name, value in inputs.items():
            ispec = spec.inputs.get(name)
            if ispec is None or not isinstance(value, str) or not is_file_input(spec.name, ispec):
                continue
            problem = path_problem(value)
            if problem is not None:
                found.setdefault(str(node_id), []).append(
                    _error("input_path_not_allowed", "File name not allowed", f"{name}: {problem}", name)
                )
        if max_pixels is not None:
            cost = node_cost(inputs)
            if cost > max_pixels:
                found.setdefault(str(node_id), []).append(
                    _error(
                        "cost_exceeded",
                        "The node asks for more pixels than the gateway allows",
                        f"width x height x frames x batch = {_count(cost)}, over the limit of {max_pixels} "
                        "(MAX_PIXELS_PER_GRAPH)",
                        None,
                    )
                )
    return found


def node_cost(inputs: Mapping[str, Any]) -> int:
    """width x height x frames x batch of one node's literal values (1 for each one it does not set)."""

    def pick(names: tuple[str, ...]) -> int:
        for name in names:
            value = inputs.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 1:
                return int(value)
        return 1

    width, height = pick(WIDTH_INPUTS), pick(HEIGHT_INPUTS)
    if width == 1 and height == 1:
        return 0  # not a node that makes pixels
    return width * height * pick(FRAME_INPUTS) * pick(BATCH_INPUTS)


def _count(value: int) -> str:
    return str(value) if value < 10**18 else f"{value:.3g}"


def _error(type_: str, message: str, details: str, input_name: str | None) -> dict[str, Any]:
    extra: dict[str, Any] = {"origin": GATEWAY}
    if input_name is not None:
        extra["input_name"] = input_name
    return {"type": type_, "message": message, "details": details, "extra_info": extra}
