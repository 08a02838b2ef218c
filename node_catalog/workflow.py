"""Accept a workflow in any of the forms people send and return an API-format graph."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from node_catalog.catalog import Catalog
from node_catalog.errors import LimitExceeded, WorkflowFormatError
from node_catalog.limits import GraphLimits, check_document, check_graph
from node_catalog.links import is_link

__all__ = ["WorkflowFormatError", "normalize_workflow"]


def normalize_workflow(
    obj: Any, catalog: Catalog, *, limits: GraphLimits | None = None
) -> dict[str, dict[str, Any]]:
    """`{"prompt": {...}}`, a bare API graph, a UI export (or any of those as JSON text) -> API format.

    Node ids become strings. Shape problems raise WorkflowFormatError with a message a user can act on;
    semantic problems (unknown classes, bad values) are left to `validate`. With `limits`, the document and
    the graph are checked against them first (`LimitExceeded`, a WorkflowFormatError).
    """
    if isinstance(obj, (str, bytes, bytearray)):
        if limits is not None and len(obj) > limits.max_string_length * 16:
            raise LimitExceeded(f"the workflow text is {len(obj)} characters long (MAX_STRING_LENGTH x 16)")
        try:
            obj = json.loads(obj)
        except (ValueError, RecursionError) as exc:
            raise WorkflowFormatError(f"workflow is not valid JSON: {exc}") from exc
    if limits is not None:
        check_document(obj, limits)
        graph = _normalize(obj, catalog, limits)
        check_graph(graph, limits)
        return graph
    return _normalize(obj, catalog, None)


def _normalize(obj: Any, catalog: Catalog, limits: GraphLimits | None) -> dict[str, dict[str, Any]]:
    if not isinstance(obj, Mapping):
        raise WorkflowFormatError(
            f"a workflow must be a JSON object mapping node ids to nodes, got {type(obj).__name__}"
        )
    if not obj:
        raise WorkflowFormatError("the workflow is empty: it has no nodes")
    from node_catalog.ui_export import is_ui_workflow, ui_to_api

    if is_ui_workflow(obj):
        return ui_to_api(obj, catalog, max_nodes=limits.max_ui_nodes if limits else None)
    if "prompt" in obj and isinstance(obj["prompt"], Mapping) and not _looks_like_node(obj["prompt"]):
        return _normalize(obj["prompt"], catalog, limits)
    if "prompt" in obj and not isinstance(obj["prompt"], Mapping):
        raise WorkflowFormatError(f"'prompt' must be an object of nodes, got {type(obj['prompt']).__name__}")
    if "workflow" in obj and isinstance(obj["workflow"], Mapping) and is_ui_workflow(obj["workflow"]):
        return ui_to_api(obj["workflow"], catalog, max_nodes=limits.max_ui_nodes if limits else None)
    result: dict[str, dict[str, Any]] = {}
    for node_id, node in obj.items():
        if not isinstance(node, Mapping):
            raise WorkflowFormatError(
                f"node {node_id!r} must be an object with 'class_type' and 'inputs', "
                f"got {type(node).__name__}"
            )
        if "class_type" not in node:
            raise WorkflowFormatError(f"node {node_id!r} has no 'class_type'")
        if not isinstance(node["class_type"], str) or not node["class_type"]:
            raise WorkflowFormatError(f"node {node_id!r}: 'class_type' must be a non-empty string")
        inputs = node.get("inputs", {})
        if not isinstance(inputs, Mapping):
            raise WorkflowFormatError(f"node {node_id!r}: 'inputs' must be an object")
        clean: dict[str, Any] = {
            "class_type": node["class_type"],
            "inputs": {str(k): ([str(v[0]), v[1]] if _is_int_link(v) else v) for k, v in inputs.items()},
        }
        if isinstance(node.get("_meta"), Mapping):
            clean["_meta"] = dict(node["_meta"])
        result[str(node_id)] = clean
    return result


def _is_int_link(val: Any) -> bool:
    return is_link(val) and isinstance(val[0], int)


def _looks_like_node(obj: Mapping[str, Any]) -> bool:
    return "class_type" in obj and "inputs" in obj
