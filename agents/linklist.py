"""The link-list form of a workflow that Flow writes and Refine repairs (ComfyGPT's representation).

One type serves the catalog and the agents: `node_catalog.linklist.LinkList` (edges `[src_node, output_name,
dst_node, input_name]`, nodes named `ClassName_k`, widget values per node). This module adds what only the
agents need: the JSON Schema the LLM answers with, a tolerant reader for that answer, and the conversions
with agent errors (`LinkListError`) and no defaults filled (Refine decides those and says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.errors import LinkListError
from node_catalog import Catalog
from node_catalog.errors import ConversionError
from node_catalog.linklist import LinkList, class_of, linklist_to_api, output_slot

__all__ = [
    "LINK_LIST_JSON_SCHEMA",
    "LinkList",
    "class_of",
    "link_list_to_api",
    "node_for_api_id",
    "output_slot",
    "parse_link_list",
]

LINK_LIST_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["nodes", "links"],
    "additionalProperties": False,
    "properties": {
        "nodes": {
            "type": "object",
            "description": "Node name (ClassName_k) -> its class and widget values",
            "additionalProperties": {
                "type": "object",
                "required": ["class_type"],
                "properties": {"class_type": {"type": "string"}, "inputs": {"type": "object"}},
            },
        },
        "links": {
            "type": "array",
            "items": {"type": "array", "items": {"type": "string"}, "minItems": 4, "maxItems": 4},
        },
    },
}


def parse_link_list(data: Mapping[str, Any]) -> LinkList:
    """A LinkList from loose JSON (an LLM's answer, the pipeline state): a list of node names is accepted,
    link ends may be numbers, and a node whose `class_type` differs from its name's class is renamed."""
    if not isinstance(data, Mapping):
        raise LinkListError("a link list must be an object with `nodes` and `links`")
    raw_nodes = data.get("nodes") or {}
    if isinstance(raw_nodes, list):
        raw_nodes = {str(n): {} for n in raw_nodes}
    if not isinstance(raw_nodes, Mapping):
        raise LinkListError("`nodes` must map node names to {class_type, inputs}")
    links = [
        [str(x) for x in raw] if isinstance(raw, list | tuple) and len(raw) == 4 else raw
        for raw in data.get("links") or []
    ]
    try:
        return LinkList.from_document({"nodes": raw_nodes, "links": links})
    except ConversionError as exc:
        raise LinkListError(f"malformed link list: {exc}") from exc


def link_list_to_api(doc: LinkList, catalog: Catalog) -> dict[str, dict[str, Any]]:
    """LinkList -> API-format graph with ids "1", "2", ... in node order; only the values the link list
    holds (no defaults filled: Refine fills what is missing and records it)."""
    try:
        return linklist_to_api(doc, catalog, fill_defaults=False)
    except ConversionError as exc:
        raise LinkListError(str(exc)) from exc


def node_for_api_id(doc: LinkList, api_id: str) -> str | None:
    """Inverse of the ids link_list_to_api assigns."""
    names = doc.nodes
    return names[int(api_id) - 1] if api_id.isdigit() and 0 < int(api_id) <= len(names) else None
