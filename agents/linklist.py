"""The link-list form of a workflow that Flow writes and Refine repairs (ComfyGPT's representation).

`links` holds one edge per entry, `[src_node, output_name, dst_node, input_name]`, with nodes named
`ClassName_k`; `nodes` holds each node's class and widget values. Execute turns it into ComfyUI's API format.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agents.errors import LinkListError
from node_catalog import Catalog, NodeSpec

_SUFFIX = re.compile(r"^(?P<cls>.+?)_(?P<k>\d+)$")


class LinkNode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    class_type: str
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="Widget values only; links live in `links`"
    )
    title: str | None = None


class LinkList(BaseModel):
    """A workflow as nodes plus typed edges."""

    model_config = ConfigDict(extra="forbid")

    nodes: dict[str, LinkNode] = Field(default_factory=dict)
    links: list[tuple[str, str, str, str]] = Field(default_factory=list)

    def copy_deep(self) -> LinkList:
        return self.model_copy(deep=True)

    def incoming(self, node: str) -> dict[str, tuple[str, str]]:
        """Input name -> (source node, output name) for one node."""
        return {dst_in: (src, out) for src, out, dst, dst_in in self.links if dst == node}

    def consumers(self, node: str) -> list[tuple[str, str, str]]:
        """(output name, consumer node, consumer input) for every edge leaving `node`."""
        return [(out, dst, dst_in) for src, out, dst, dst_in in self.links if src == node]

    def new_name(self, class_type: str) -> str:
        k = 0
        while f"{class_type}_{k}" in self.nodes:
            k += 1
        return f"{class_type}_{k}"

    def rename_class(self, node: str, class_type: str) -> str:
        """Give `node` a new class; its name follows (ClassName_k) and every edge is rewritten."""
        new = self.new_name(class_type)
        spec = self.nodes.pop(node)
        self.nodes[new] = LinkNode(class_type=class_type, inputs=spec.inputs, title=spec.title)
        self.links = [(new if s == node else s, o, new if d == node else d, i) for s, o, d, i in self.links]
        return new

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": {k: v.model_dump(exclude_none=True) for k, v in self.nodes.items()},
            "links": [list(link) for link in self.links],
        }


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
    """Build a LinkList from loose JSON (an LLM's answer): class from `ClassName_k` when not given."""
    if not isinstance(data, Mapping):
        raise LinkListError("a link list must be an object with `nodes` and `links`")
    raw_nodes = data.get("nodes") or {}
    nodes: dict[str, LinkNode] = {}
    if isinstance(raw_nodes, list):  # tolerate a list of names
        raw_nodes = {str(n): {} for n in raw_nodes}
    if not isinstance(raw_nodes, Mapping):
        raise LinkListError("`nodes` must map node names to {class_type, inputs}")
    for name, body in raw_nodes.items():
        body = body if isinstance(body, Mapping) else {}
        cls = body.get("class_type") or class_of(str(name))
        inputs = body.get("inputs") if isinstance(body.get("inputs"), Mapping) else {}
        nodes[str(name)] = LinkNode(class_type=str(cls), inputs=dict(inputs or {}))
    links: list[tuple[str, str, str, str]] = []
    for raw in data.get("links") or []:
        if not isinstance(raw, list | tuple) or len(raw) != 4:
            raise LinkListError(f"a link must be [src_node, output_name, dst_node, input_name], got {raw!r}")
        src, out, dst, inp = (str(x) for x in raw)
        for name in (src, dst):
            if name not in nodes:
                nodes[name] = LinkNode(class_type=class_of(name))
        links.append((src, out, dst, inp))
    return LinkList(nodes=nodes, links=links)


def class_of(name: str) -> str:
    match = _SUFFIX.match(name)
    return match.group("cls") if match else name


def output_index(spec: NodeSpec, output: str) -> int | None:
    """Resolve an output by name, then by type (first match), then as a number."""
    for i, out in enumerate(spec.outputs):
        if out.name == output:
            return i
    for i, out in enumerate(spec.outputs):
        if out.type == output:
            return i
    if output.isdigit() and int(output) < len(spec.outputs):
        return int(output)
    return None


def api_to_link_list(workflow: Mapping[str, Any], catalog: Catalog) -> LinkList:
    """An API-format graph -> LinkList (node ids become `ClassName_k`)."""
    names: dict[str, str] = {}
    result = LinkList()
    for node_id, node in workflow.items():
        cls = str(node["class_type"])
        name = result.new_name(cls)
        names[str(node_id)] = name
        title = (node.get("_meta") or {}).get("title")
        result.nodes[name] = LinkNode(class_type=cls, title=title)
    for node_id, node in workflow.items():
        dst = names[str(node_id)]
        for inp, value in (node.get("inputs") or {}).items():
            if _is_link(value) and str(value[0]) in names:
                src = names[str(value[0])]
                spec = catalog.get(result.nodes[src].class_type)
                out_name = str(value[1])
                if spec is not None and int(value[1]) < len(spec.outputs):
                    out_name = spec.outputs[int(value[1])].name
                result.links.append((src, out_name, dst, inp))
            else:
                result.nodes[dst].inputs[inp] = copy.deepcopy(value)
    return result


def link_list_to_api(doc: LinkList, catalog: Catalog) -> dict[str, dict[str, Any]]:
    """LinkList -> API-format graph with ids "1", "2", ... in topological-ish (insertion) order."""
    ids = {name: str(i) for i, name in enumerate(doc.nodes, start=1)}
    workflow: dict[str, dict[str, Any]] = {}
    for name, node in doc.nodes.items():
        entry: dict[str, Any] = {"class_type": node.class_type, "inputs": copy.deepcopy(node.inputs)}
        entry["_meta"] = {"title": node.title or name}
        workflow[ids[name]] = entry
    for src, out, dst, inp in doc.links:
        if src not in ids or dst not in ids:
            raise LinkListError(f"link {[src, out, dst, inp]} names a node that does not exist")
        spec = catalog.get(doc.nodes[src].class_type)
        index = output_index(spec, out) if spec is not None else (int(out) if out.isdigit() else 0)
        if index is None:
            raise LinkListError(f"{doc.nodes[src].class_type} has no output {out!r}")
        workflow[ids[dst]]["inputs"][inp] = [ids[src], index]
    return workflow


def node_for_api_id(doc: LinkList, api_id: str) -> str | None:
    """Inverse of the ids link_list_to_api assigns."""
    names = list(doc.nodes)
    return names[int(api_id) - 1] if api_id.isdigit() and 0 < int(api_id) <= len(names) else None


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[1], int)
        and isinstance(value[0], str | int)
    )
