"""Put the request's text prompt into the workflow's positive text-encode input when that is obvious."""

from __future__ import annotations

import copy
from typing import Any

from api.errors import BadRequest

# Inputs a conditioning reaches on its way to a sampler: names say whether it is the positive or negative one.
POSITIVE_INPUTS = frozenset({"positive", "conditioning", "cond"})
NEGATIVE_INPUTS = frozenset({"negative", "uncond", "negative_conditioning"})
TEXT_INPUTS = ("text", "prompt", "positive_prompt")


def _text_input(node: dict[str, Any]) -> str | None:
    inputs = node.get("inputs")
    if not isinstance(inputs, dict) or "TextEncode" not in str(node.get("class_type", "")):
        return None
    for name in TEXT_INPUTS:
        if isinstance(inputs.get(name), str):
            return name
    return None


Consumers = dict[str, list[tuple[str, str, dict[str, Any]]]]


def _consumers(workflow: dict[str, Any]) -> Consumers:
    """source node id -> (node id, input name, node) of every input linked to it: built once, so finding the
    role of every encoder is linear in the graph, not cubic."""
    index: Consumers = {}
    for nid, node in workflow.items():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        for name, value in inputs.items() if isinstance(inputs, dict) else ():
            if isinstance(value, list) and len(value) == 2:
                index.setdefault(str(value[0]), []).append((nid, name, node))
    return index


def _role(consumers: Consumers, start: str) -> str | None:
    """Follow links downstream from `start` to the first input named positive/negative (iteratively)."""
    frontier, seen = [start], {start}
    while frontier:
        current = frontier.pop()
        for nid, name, node in consumers.get(current, ()):
            if name in NEGATIVE_INPUTS:
                return "negative"
            if name in POSITIVE_INPUTS and name != "conditioning":
                return "positive"
            if nid not in seen:
                seen.add(nid)
                frontier.append(nid)
            if name == "conditioning" and "Guider" in str(node.get("class_type", "")):
                return "positive"  # BasicGuider takes one conditioning: the positive one
    return None


def apply_text_prompt(workflow: dict[str, Any], text: str) -> dict[str, Any]:
    """A copy of `workflow` with `text` in its positive text encoder; 400 when there is no clear one."""
    encoders = {
        nid: name
        for nid, node in workflow.items()
        if isinstance(node, dict) and (name := _text_input(node)) is not None
    }
    if not encoders:
        raise BadRequest(
            "`prompt` was given but the workflow has no text-encode node to put it in; "
            "leave `prompt` out or add e.g. a CLIPTextEncode node"
        )
    if len(encoders) == 1:
        chosen = next(iter(encoders))
    else:
        consumers = _consumers(workflow)
        positives = [nid for nid in encoders if _role(consumers, nid) == "positive"]
        if len(positives) != 1:
            raise BadRequest(
                f"`prompt` was given but the workflow has {len(encoders)} text-encode nodes "
                f"({', '.join(sorted(encoders))}) and no single positive one; put the text "
                "into the workflow itself and leave `prompt` out"
            )
        chosen = positives[0]
    result = copy.deepcopy(workflow)
    result[chosen]["inputs"][encoders[chosen]] = text
    return result
