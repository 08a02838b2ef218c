"""Running HunyuanVideo cases for real on a backend that holds smoke weights (random stubs under the official
file names, see comfyui_local.smoke_weights): a copy of the graph, same nodes, shrunk to what a CPU
runs in seconds, whose video must decode and pass `check_frames` to count as executed.

Scoring stays on the original graph; only the run uses the copy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from evals import graph_facts

ExecuteVideo = Literal["smoke", "never"]
EXECUTE_VIDEO: tuple[ExecuteVideo, ...] = ("smoke", "never")
SIZE, FRAMES, STEPS = 64, 5, 2  # 64x64, 5 frames (4k+1), 2 steps: ~5 s once the prompt text is encoded


@dataclass(frozen=True)
class SmokeRun:
    """The graph to run and what its video must look like (None: the graph does not set it)."""

    workflow: dict[str, Any]
    expect_frames: int | None
    expect_size: tuple[int, int] | None


def downscaled(workflow: Mapping[str, Any]) -> SmokeRun:
    """A copy with every plain width/height set to 64, frame lengths to 5 and sampler steps to 2."""
    small: dict[str, Any] = copy.deepcopy(dict(workflow))
    sized = framed = False
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
    return SmokeRun(small, FRAMES if framed else None, (SIZE, SIZE) if sized else None)


def _plain_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
