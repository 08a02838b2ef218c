"""UI-format workflows (the ComfyUI editor's export: `nodes`, `links`, `widgets_values`) -> API format.

Follows what the editor's `graphToPrompt` does: widget values are assigned to the node's widget inputs
in `input_order`, skipping the extra `control_after_generate` value after seeds and the upload button value
after file pickers; sockets take precedence over widgets; Reroute nodes are followed; PrimitiveNode values are
inlined; muted nodes (mode 2) are dropped; bypassed nodes (mode 4) pass each output through from their first
input of the same type; subgraph instances are expanded with ids `"<instance>:<inner>"`. Legacy group nodes
and node types the catalog does not know raise ConversionError, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from node_catalog.catalog import Catalog
from node_catalog.errors import ConversionError, LimitExceeded
from node_catalog.specs import NodeSpec

MODE_MUTED = 2
MODE_BYPASS = 4
VIRTUAL_TYPES = frozenset({"Reroute", "PrimitiveNode", "Note", "MarkdownNote", "Label (rgthree)"})
NOTE_TYPES = frozenset({"Note", "MarkdownNote", "Label (rgthree)"})
CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})
SUBGRAPH_INPUT = -10
SUBGRAPH_OUTPUT = -20

# What a socket resolves to: a link ("link", id, slot), a literal ("value", v), or nothing (None).
Source = tuple[str, Any, Any] | None


def is_ui_workflow(obj: Any) -> bool:
    """True for an editor export (it has a `nodes` list and a `links` list)."""
    return isinstance(obj, Mapping) and isinstance(obj.get("nodes"), list) and "links" in obj


@dataclass
class _Scope:
    """One graph level: the top-level workflow or the inside of one subgraph instance."""

    nodes: dict[int | str, Mapping[str, Any]]
    links: dict[int, tuple[Any, int, Any, int, Any]]
    prefix: str = ""
    parent: _Scope | None = None
    instance: Mapping[str, Any] | None = None
    definition: Mapping[str, Any] | None = None
    children: dict[Any, _Scope] = field(default_factory=dict)

    def flat_id(self, node_id: Any) -> str:
        return f"{self.prefix}{node_id}"


def _link_table(raw: Any) -> dict[int, tuple[Any, int, Any, int, Any]]:
    table: dict[int, tuple[Any, int, Any, int, Any]] = {}
    for link in raw or []:
        if isinstance(link, list) and len(link) >= 5:
            table[link[0]] = (link[1], link[2], link[3], link[4], link[5] if len(link) > 5 else None)
        elif isinstance(link, Mapping) and "id" in link:
            table[link["id"]] = (
                link.get("origin_id"),
                link.get("origin_slot", 0),
                link.get("target_id"),
                link.get("target_slot", 0),
                link.get("type"),
            )
        else:
            raise ConversionError(f"malformed link {link!r}: expected [id, from, slot, to, slot, type]")
    return table


class _Converter:
    def __init__(self, workflow: Mapping[str, Any], catalog: Catalog, max_nodes: int | None = None) -> None:
        self.catalog = catalog
        self.max_nodes = max_nodes
        self.expanded = 0  # nodes seen so far, subgraph instances expanded: bounded before any is built
        defs = workflow.get("definitions") or {}
        self.subgraphs: dict[str, Mapping[str, Any]] = {
            str(sg["id"]): sg
            for sg in (defs.get("subgraphs") or [])
            if isinstance(sg, Mapping) and "id" in sg
        }
        self.group_nodes = (workflow.get("extra") or {}).get("groupNodes") or {}
        self.root = self._scope(workflow, prefix="", parent=None, instance=None, definition=None, depth=0)
        self.result: dict[str, dict[str, Any]] = {}

    def _scope(
        self,
        graph: Mapping[str, Any],
        *,
        prefix: str,
        parent: _Scope | None,
        instance: Mapping[str, Any] | None,
        definition: Mapping[str, Any] | None,
        depth: int,
    ) -> _Scope:
        if depth > 16:
            raise ConversionError("subgraphs nested more than 16 levels deep (recursive definition?)")
        nodes: dict[int | str, Mapping[str, Any]] = {}
        for node in graph.get("nodes") or []:
            if not isinstance(node, Mapping) or "id" not in node or "type" not in node:
                raise ConversionError(f"malformed node {str(node)[:80]!r}: it needs 'id' and 'type'")
            nodes[node["id"]] = node
        self.expanded += len(nodes)
        if self.max_nodes is not None and self.expanded > self.max_nodes:
            # 3 KB of nested subgraph instances can stand for a million nodes: stop counting, never build them
            raise LimitExceeded(
                f"the UI workflow expands (subgraph instances included) to more than {self.max_nodes} nodes "
                "(MAX_UI_NODES)"
            )
        scope = _Scope(nodes, _link_table(graph.get("links")), prefix, parent, instance, definition)
        for node_id, node in nodes.items():
            sub = self.subgraphs.get(str(node["type"]))
            if sub is not None and node.get("mode", 0) not in (MODE_MUTED, MODE_BYPASS):
                scope.children[node_id] = self._scope(
                    sub,
                    prefix=f"{prefix}{node_id}:",
                    parent=scope,
                    instance=node,
                    definition=sub,
                    depth=depth + 1,
                )
        return scope

    # -- resolving where a socket's value comes from --

    def resolve_link(self, scope: _Scope, link_id: Any, seen: frozenset[Any] = frozenset()) -> Source:
        if link_id is None:
            return None
        key = (scope.prefix, link_id)
        if key in seen:
            raise ConversionError(f"link {link_id} loops through reroutes or bypassed nodes")
        link = scope.links.get(link_id)
        if link is None:
            raise ConversionError(f"link {link_id} is used by a node but missing from the links list")
        origin_id, origin_slot = link[0], link[1]
        if origin_id == SUBGRAPH_INPUT:
            return self._subgraph_input(scope, origin_slot, seen | {key})
        return self.resolve_output(scope, origin_id, origin_slot, seen | {key})

    def resolve_output(self, scope: _Scope, node_id: Any, slot: int, seen: frozenset[Any]) -> Source:
        node = scope.nodes.get(node_id)
        if node is None:
            raise ConversionError(f"a link comes from node {node_id}, which is not in the workflow")
        node_type = str(node["type"])
        mode = node.get("mode", 0)
        if mode == MODE_MUTED:
            return None
        if node_type == "Reroute":
            inputs = node.get("inputs") or []
            return self.resolve_link(scope, inputs[0].get("link"), seen) if inputs else None
        if node_type == "PrimitiveNode":
            values = node.get("widgets_values") or []
            if not values:
                raise ConversionError("PrimitiveNode has no value", node_id=scope.flat_id(node_id))
            return ("value", values[0], None)
        if mode == MODE_BYPASS:
            return self._bypass(scope, node, slot, seen)
        if node_id in scope.children:
            return self._subgraph_output(scope.children[node_id], slot, seen)
        return ("link", scope.flat_id(node_id), slot)

    def _bypass(self, scope: _Scope, node: Mapping[str, Any], slot: int, seen: frozenset[Any]) -> Source:
        outputs = node.get("outputs") or []
        out_type = outputs[slot].get("type") if slot < len(outputs) else None
        inputs = [i for i in node.get("inputs") or [] if isinstance(i, Mapping)]
        # The editor's rule: the input at the same slot if its type matches, else the first of that type.
        candidates = []
        if slot < len(inputs) and inputs[slot].get("type") == out_type:
            candidates.append(inputs[slot])
        candidates += [i for i in inputs if i.get("type") == out_type and i not in candidates]
        for cand in candidates:
            if cand.get("link") is not None:
                return self.resolve_link(scope, cand["link"], seen)
        return None

    def _subgraph_output(self, inner: _Scope, slot: int, seen: frozenset[Any]) -> Source:
        for link_id, link in inner.links.items():
            if link[2] == SUBGRAPH_OUTPUT and link[3] == slot:
                return self.resolve_link(inner, link_id, seen)
        return None

    def _subgraph_input(self, inner: _Scope, index: int, seen: frozenset[Any]) -> Source:
        assert inner.parent is not None and inner.instance is not None and inner.definition is not None
        declared = list(inner.definition.get("inputs") or [])
        if index >= len(declared):
            raise ConversionError(f"subgraph input slot {index} does not exist", node_id=inner.prefix[:-1])
        name = declared[index].get("name")
        instance = inner.instance
        sockets = {i.get("name"): i for i in instance.get("inputs") or [] if isinstance(i, Mapping)}
        sock = sockets.get(name)
        if sock is not None and sock.get("link") is not None:
            return self.resolve_link(inner.parent, sock["link"], seen)
        # Unlinked subgraph inputs are promoted widgets: their values follow in declaration order.
        widget_names = [
            d.get("name")
            for d in declared
            if d.get("name") not in sockets or "widget" in sockets[d.get("name")]
        ]
        values = instance.get("widgets_values")
        if isinstance(values, list) and name in widget_names and widget_names.index(name) < len(values):
            return ("value", values[widget_names.index(name)], None)
        return None

    # -- emitting API nodes --

    def convert(self) -> dict[str, dict[str, Any]]:
        self._emit(self.root)
        if not self.result:
            raise ConversionError("the workflow has no executable nodes (all are notes, muted or virtual)")
        return self.result

    def _emit(self, scope: _Scope) -> None:
        for node_id, node in scope.nodes.items():
            node_type = str(node["type"])
            mode = node.get("mode", 0)
            if mode in (MODE_MUTED, MODE_BYPASS) or node_type in VIRTUAL_TYPES:
                continue
            if node_id in scope.children:
                self._emit(scope.children[node_id])
                continue
            if node_type in self.group_nodes or node_type.startswith(("workflow>", "workflow/")):
                raise ConversionError(
                    f"legacy group node {node_type!r} is not supported; "
                    "convert it to a subgraph in the editor",
                    node_id=scope.flat_id(node_id),
                )
            spec = self.catalog.get(node_type)
            if spec is None:
                hint = ", ".join(h.name for h in self.catalog.closest(node_type, limit=3))
                raise ConversionError(
                    f"node type {node_type!r} is not installed on this backend (closest: {hint})",
                    node_id=scope.flat_id(node_id),
                )
            self.result[scope.flat_id(node_id)] = self._node(scope, node_id, node, spec)

    def _node(self, scope: _Scope, node_id: Any, node: Mapping[str, Any], spec: NodeSpec) -> dict[str, Any]:
        inputs: dict[str, Any] = widget_inputs(
            spec, node.get("widgets_values"), node_id=scope.flat_id(node_id)
        )
        for sock in node.get("inputs") or []:
            if not isinstance(sock, Mapping) or sock.get("link") is None:
                continue
            name = str((sock.get("widget") or {}).get("name") or sock.get("name"))
            source = self.resolve_link(scope, sock["link"])
            if source is None:
                continue  # fed by a muted node or an empty bypass: the editor leaves it unset too
            inputs[name] = [source[1], source[2]] if source[0] == "link" else source[1]
        title = node.get("title") or spec.display_name
        return {"inputs": inputs, "class_type": spec.name, "_meta": {"title": title}}


def widget_inputs(spec: NodeSpec, values: Any, *, node_id: str = "") -> dict[str, Any]:
    """Map a node's `widgets_values` (list or dict form) onto its widget inputs."""
    widgets = spec.widgets
    if values is None:
        return {}
    if isinstance(values, Mapping):
        return {w.name: values[w.name] for w in widgets if w.name in values}
    if not isinstance(values, list):
        raise ConversionError(f"widgets_values must be a list, got {type(values).__name__}", node_id=node_id)
    result: dict[str, Any] = {}
    pos = 0
    for idx, widget in enumerate(widgets):
        if pos >= len(values):
            break
        value = values[pos]
        misplaced_control = value in CONTROL_VALUES and (
            widget.type in ("INT", "FLOAT")
            or (widget.type == "COMBO" and value not in (widget.options or ()))
        )
        if misplaced_control:
            raise ConversionError(
                f"its {len(values)} widgets_values do not line up with the widget inputs of {spec.name} "
                f"on this backend ({', '.join(w.name for w in widgets)}): "
                "saved with another version of the node?",
                node_id=node_id,
            )
        result[widget.name] = value
        pos += 1
        remaining_widgets = len(widgets) - idx - 1
        control = widget.control_after_generate and pos < len(values) and values[pos] in CONTROL_VALUES
        upload = _has_upload_button(widget.extra) and len(values) - pos > remaining_widgets
        if control or upload:
            pos += 1
    return result


def _has_upload_button(extra: Mapping[str, Any]) -> bool:
    return any(k.endswith("_upload") and v is True for k, v in extra.items())


def ui_to_api(
    workflow: Mapping[str, Any], catalog: Catalog, *, max_nodes: int | None = None
) -> dict[str, dict[str, Any]]:
    """Convert an editor export; ConversionError (a WorkflowFormatError) says why when it cannot.

    `max_nodes` bounds the nodes once subgraph instances are expanded (`LimitExceeded` past it)."""
    if not is_ui_workflow(workflow):
        raise ConversionError("not a UI-format workflow: expected 'nodes' and 'links' lists")
    try:
        return _Converter(workflow, catalog, max_nodes).convert()
    except (ConversionError, LimitExceeded):
        raise
    except RecursionError as exc:
        raise LimitExceeded(
            "the UI workflow's links (reroutes, bypassed nodes) are chained too deep"
        ) from exc
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise ConversionError(f"malformed UI workflow: {type(exc).__name__}: {exc}") from exc
