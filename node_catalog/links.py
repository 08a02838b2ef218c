"""The API format's link value (`[source node id, output slot]` in place of an input's value) and the walks
along links that need no catalog."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Inputs through which a conditioning passes on unchanged in role (area, combine, guidance ...).
CONDITIONING_PASSES = frozenset({"conditioning", "conditioning_1", "conditioning_2"})


def is_link(value: Any) -> bool:
    """Whether an input value is a link: a 2-item list (or tuple) of a node id (string, or an int before
    normalisation) and an integer output slot. Booleans are values, never ids or slots."""
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and isinstance(value[0], str | int)
        and not isinstance(value[0], bool)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def iter_links(workflow: Mapping[str, Any]) -> Iterable[tuple[str, int, str, str]]:
    """(source id, output slot, target id, input name) for every well-formed link."""
    for node_id, node in workflow.items():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        if not isinstance(inputs, Mapping):
            continue
        for name, val in inputs.items():
            if is_link(val):
                yield str(val[0]), int(val[1]), str(node_id), str(name)


def negative_feeders(edges: Iterable[tuple[str, str, str]]) -> set[str]:
    """Nodes whose output ends up in some node's `negative` input, directly or through conditioning inputs.

    `edges` are (source node, target node, target input); a text encoder in the result writes the negative
    prompt, every other one a positive prompt."""
    edges = list(edges)
    found = {src for src, _, dst_in in edges if dst_in == "negative"}
    grew = True
    while grew:
        more = {src for src, dst, dst_in in edges if dst_in in CONDITIONING_PASSES and dst in found}
        grew = not more <= found
        found |= more
    return found
