"""Size limits a workflow must respect before the gateway spends real work on it.

Every walk here is iterative (an explicit stack or queue), so a hostile document can make none of them
recurse. `check_document` reads the raw JSON value (nesting depth, string lengths, integers a 64-bit
ComfyUI input can hold, finite floats, total size); `check_graph` an API graph (node count, the longest
chain of links, which ComfyUI's recursive validation cannot follow past a few hundred nodes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from node_catalog.errors import LimitExceeded
from node_catalog.links import is_link

__all__ = ["GraphLimits", "LimitExceeded", "check_document", "check_graph"]

# ComfyUI's widest INT inputs (seeds) go up to 2**64 - 1; anything wider can only be an attack or a typo.
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1


@dataclass(frozen=True)
class GraphLimits:
    """The limits; `api.settings.Settings.graph_limits()` builds them from the environment."""

    max_nodes: int = 500  # nodes of an API graph
    max_ui_nodes: int = 2000  # nodes of a UI export once its subgraph instances are expanded
    max_depth: int = 150  # longest chain of links
    max_nesting: int = 64  # JSON nesting of a workflow document
    max_string_length: int = 65_536  # characters of any one string value
    max_values: int = 200_000  # JSON values (objects, arrays, scalars) in a workflow document
    max_pixels: int = 300_000_000  # width x height x frames x batch of one node (the cost policy)


def check_document(obj: Any, limits: GraphLimits, *, where: str = "workflow") -> None:
    """Raise `LimitExceeded` for a JSON value over the limits (checked before parsing it as a workflow)."""
    stack: list[tuple[Any, str, int]] = [(obj, where, 1)]
    count = 0
    while stack:
        value, path, depth = stack.pop()
        count += 1
        if count > limits.max_values:
            raise LimitExceeded(f"{where}: more than {limits.max_values} JSON values (MAX_WORKFLOW_VALUES)")
        if isinstance(value, str):
            if len(value) > limits.max_string_length:
                raise LimitExceeded(
                    f"{path}: a string of {len(value)} characters, over the limit of "
                    f"{limits.max_string_length} (MAX_STRING_LENGTH)"
                )
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not INT_MIN <= value <= INT_MAX:
                raise LimitExceeded(
                    f"{path}: an integer of {_digits(value)} digits, outside the 64-bit range"
                )
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise LimitExceeded(f"{path}: {value} is not a finite number")
        elif isinstance(value, Mapping | list | tuple):
            if depth >= limits.max_nesting:
                raise LimitExceeded(
                    f"{path}: nested more than {limits.max_nesting} levels deep (MAX_JSON_NESTING)"
                )
            items = value.items() if isinstance(value, Mapping) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and len(key) > limits.max_string_length:
                    raise LimitExceeded(f"{path}: a key of {len(key)} characters (MAX_STRING_LENGTH)")
                stack.append((item, f"{path}.{_short(key)}", depth + 1))


def check_graph(graph: Mapping[str, Any], limits: GraphLimits) -> None:
    """Raise `LimitExceeded` for an API graph with too many nodes or a chain of links too long."""
    if len(graph) > limits.max_nodes:
        raise LimitExceeded(
            f"the workflow has {len(graph)} nodes, over the limit of {limits.max_nodes} (MAX_NODES)"
        )
    depth = longest_chain(graph)
    if depth > limits.max_depth:
        raise LimitExceeded(
            f"the workflow has a chain of {depth} linked nodes, over the limit of {limits.max_depth} "
            "(MAX_GRAPH_DEPTH)"
        )


def longest_chain(graph: Mapping[str, Any]) -> int:
    """Nodes on the longest path of links (Kahn's order, iterative; nodes on a cycle are left out: validation
    reports cycles)."""
    feeds: dict[str, list[str]] = {str(n): [] for n in graph}
    indegree = dict.fromkeys(feeds, 0)
    for node_id, node in graph.items():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        for value in inputs.values() if isinstance(inputs, Mapping) else ():
            if is_link(value) and str(value[0]) in feeds:
                feeds[str(value[0])].append(str(node_id))
                indegree[str(node_id)] += 1
    length = dict.fromkeys(feeds, 1)
    ready = [n for n, d in indegree.items() if d == 0]
    best = 1 if feeds else 0
    while ready:
        current = ready.pop()
        best = max(best, length[current])
        for nxt in feeds[current]:
            length[nxt] = max(length[nxt], length[current] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    return best


def _digits(value: int) -> int:
    # str() of a huge int is itself quadratic (and refused past 4300 digits): estimate from the bit length.
    return max(1, int(abs(value).bit_length() * math.log10(2)) + 1)


def _short(key: Any) -> str:
    text = str(key)
    return text if len(text) <= 40 else text[:37] + "..."
