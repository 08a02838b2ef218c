"""Running graphs for real on a backend that holds smoke weights (random stubs under the official file
names, see comfyui_local.smoke_families): a copy of the graph, same nodes, shrunk to what a CPU runs in
seconds, whose output (video frames, or a saved image) must decode and pass `check_frames` to count as
executed.

Scoring stays on the original graph; only the run uses the copy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from evals import graph_facts

ExecuteSmoke = Literal["smoke", "never"]
EXECUTE_SMOKE: tuple[ExecuteSmoke, ...] = ("smoke", "never")
# The names of before image graphs ran too; kept so callers of the video-only option keep working.
ExecuteVideo = ExecuteSmoke
EXECUTE_VIDEO = EXECUTE_SMOKE
SIZE, FRAMES, STEPS = 64, 5, 2  # 64x64, 5 frames (4k+1), 2 steps: ~5 s once the prompt text is encoded
BATCH = 1
# ImageScaleToTotalPixels' smallest target (0.01 MP, ~100x100): an edit graph samples the latent of its scaled
# input, so at the default 1 MP a CPU run encodes, samples and decodes a 1024x1024 image.
MEGAPIXELS = 0.01
# Nodes whose output size is not the width/height set on the graph (they scale what they receive): a graph
# that holds one after its first decode is checked for clean pixels and frames but not for 64x64; one that
# only scales its start picture (an image-to-video's input) still saves its latent's size.
RESIZING_HINTS = ("upscale", "scaleby", "imagescale", "latentscale", "crop", "pad", "resize")
# Nodes that join, split or repeat frames: after a decode the saved clip's length is not the latent's (two
# 5-frame clips joined by ImageBatch save 10), so such a graph is checked for clean frames, not their count.
FRAME_COUNT_HINTS = ("batch", "concat", "join", "interpolat", "repeat")


@dataclass(frozen=True)
class SmokeRun:
    """The graph to run and what its output must look like (None: the graph does not set it)."""

    workflow: dict[str, Any]
    expect_frames: int | None
    expect_size: tuple[int, int] | None


def downscaled(workflow: Mapping[str, Any]) -> SmokeRun:
    """A copy with every plain width/height set to 64, frame lengths to 5, sampler steps to 2, batch
    sizes to 1 and megapixel targets to 0.01."""
    small: dict[str, Any] = copy.deepcopy(dict(workflow))
    sized = framed = False
    rescaled, resized = _after_decode(small, RESIZING_HINTS)
    recounted, _ = _after_decode(small, FRAME_COUNT_HINTS)
    for node in small.values():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if not isinstance(inputs, dict):
            continue
        if _plain_number(inputs.get("width")) and _plain_number(inputs.get("height")):
            inputs["width"] = inputs["height"] = SIZE
            sized = True
        for name in graph_facts.LENGTH_INPUTS:
            if _plain_number(inputs.get(name)):
                inputs[name] = FRAMES
                framed = True
        if _plain_number(inputs.get("steps")):
            inputs["steps"] = STEPS
        if _plain_number(inputs.get("batch_size")):
            inputs["batch_size"] = BATCH
        if _plain_number(inputs.get("megapixels")):
            inputs["megapixels"] = MEGAPIXELS
    # A video's frames keep its latent's size unless something scales them after decoding (an upscale
    # chain); an image may be rescaled anywhere (an outpaint's padding, an edit's scaled input).
    size = (SIZE, SIZE) if sized and not (rescaled if framed else resized) else None
    return SmokeRun(small, FRAMES if framed and not recounted else None, size)


def _after_decode(graph: Mapping[str, Any], hints: tuple[str, ...]) -> tuple[bool, bool]:
    """(a node whose class names one of `hints` has a VAE decode among its ancestors: it works on what the
    graph made, such as an upscale chain's 128x128 frames, not on the picture it starts from; the graph has
    such a node at all)."""
    parents: dict[str, list[str]] = {}
    classes: dict[str, str] = {}
    for node_id, node in graph.items():
        if not isinstance(node, dict):
            continue
        classes[str(node_id)] = str(node.get("class_type", "")).lower()
        inputs = node.get("inputs")
        values = inputs.values() if isinstance(inputs, dict) else ()
        parents[str(node_id)] = [str(v[0]) for v in values if isinstance(v, list) and len(v) == 2]
    matching = [node_id for node_id, cls in classes.items() if any(h in cls for h in hints)]
    for node_id in matching:
        seen: set[str] = set()
        stack = list(parents.get(node_id, []))
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            if "decode" in classes.get(current, ""):
                return True, True
            stack.extend(parents.get(current, []))
    return False, bool(matching)


def _plain_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
