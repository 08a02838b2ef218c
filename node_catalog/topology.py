"""API-format workflows as graphs (`node_catalog.digraph.Digraph`, read like a `networkx.MultiDiGraph`), and
the graph questions validation and repair ask."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from node_catalog.catalog import Catalog
from node_catalog.digraph import Digraph, GraphCycle
from node_catalog.errors import WorkflowFormatError
from node_catalog.links import is_link, iter_links


def to_nx(workflow: Mapping[str, Any], catalog: Catalog | None = None) -> Digraph[str]:
    """Nodes carry `class_type` and `widgets` (non-link inputs); edges carry `slot`, `input` and `type`.

    Links to nodes absent from the workflow are kept as edges to a node with `missing=True` so callers
    can see them.
    """
    graph: Digraph[str] = Digraph()
    for node_id, node in workflow.items():
        if not isinstance(node, Mapping):
            raise WorkflowFormatError(f"node {node_id!r} is not an object")
        inputs = node.get("inputs") or {}
        widgets = {k: v for k, v in inputs.items() if not is_link(v)}
        graph.add_node(
            str(node_id), class_type=node.get("class_type"), widgets=widgets, meta=node.get("_meta")
        )
    for src, slot, dst, name in iter_links(workflow):
        if src not in graph:
            graph.add_node(src, class_type=None, widgets={}, missing=True)
        link_type = None
        if catalog is not None:
            spec = catalog.get(str(graph.nodes[src].get("class_type")))
            if spec is not None and -len(spec.outputs) <= slot < len(spec.outputs):
                link_type = spec.outputs[slot].type
        graph.add_edge(src, dst, key=name, slot=slot, input=name, type=link_type)
    return graph


def from_nx(graph: Digraph[str]) -> dict[str, dict[str, Any]]:
    """Back to API format; missing placeholder nodes are dropped, their links kept."""
    workflow: dict[str, dict[str, Any]] = {}
    for node_id, data in graph.nodes(data=True):
        if data.get("missing"):
            continue
        node: dict[str, Any] = {"class_type": data["class_type"], "inputs": dict(data.get("widgets") or {})}
        if data.get("meta") is not None:
            node["_meta"] = data["meta"]
        workflow[str(node_id)] = node
    for src, dst, data in graph.edges(data=True):
        if dst in workflow:
            workflow[dst]["inputs"][data["input"]] = [src, data["slot"]]
    return workflow


def _node_key(node_id: str) -> tuple[int, int | str]:
    return (0, int(node_id)) if node_id.isdigit() else (1, node_id)


def topological_order(workflow: Mapping[str, Any]) -> list[str]:
    """Sources first, ties broken by numeric id; WorkflowFormatError on a cycle."""
    graph = to_nx(workflow)
    try:
        return [n for n in graph.topological_order(key=_node_key) if not graph.nodes[n].get("missing")]
    except GraphCycle as exc:
        raise WorkflowFormatError("the workflow has a dependency cycle") from exc


def feeding_subgraph(workflow: Mapping[str, Any], output_id: str) -> dict[str, dict[str, Any]]:
    """The nodes an output node depends on (itself included), as an API-format workflow."""
    graph = to_nx(workflow)
    if output_id not in graph:
        raise WorkflowFormatError(f"node {output_id!r} is not in the workflow")
    keep = graph.ancestors(output_id) | {output_id}
    return {k: v for k, v in workflow.items() if str(k) in keep}


def output_nodes(workflow: Mapping[str, Any], catalog: Catalog) -> list[str]:
    found = []
    for node_id, node in workflow.items():
        spec = catalog.get(str(node.get("class_type"))) if isinstance(node, Mapping) else None
        if spec is not None and spec.output_node:
            found.append(str(node_id))
    return found


def feeding_nodes(workflow: Mapping[str, Any], outputs: Iterable[str]) -> set[str]:
    """The `outputs` and every node of the workflow they depend on through links: what ComfyUI runs."""
    graph = to_nx(workflow)
    used: set[str] = set()
    for out in outputs:
        if out in graph:
            used |= graph.ancestors(out) | {out}
    return {n for n in used if not graph.nodes[n].get("missing")}


def unused_nodes(workflow: Mapping[str, Any], catalog: Catalog) -> list[str]:
    """Nodes no output node depends on: ComfyUI never runs them."""
    used = feeding_nodes(workflow, output_nodes(workflow, catalog))
    return sorted((str(n) for n in workflow if str(n) not in used), key=_node_key)


def link_cycles(workflow: Mapping[str, Any]) -> list[list[str]]:
    """Each group of nodes that depend on each other through links (self-loops included)."""
    graph: Digraph[str] = Digraph()
    for node_id in workflow:
        graph.add_node(str(node_id))
    for src, _, dst, _ in iter_links(workflow):
        if src in graph:
            graph.add_edge(src, dst)
    groups = []
    for comp in graph.strongly_connected_components():
        if len(comp) > 1 or any(graph.has_edge(n, n) for n in comp):
            groups.append(sorted(comp, key=_node_key))
    return sorted(groups, key=lambda g: _node_key(g[0]))
