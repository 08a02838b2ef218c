"""ComfyGPT's link-list form `[src_node, output_name, dst_node, input_name]` <-> API format.

Nodes are named `ClassName_k` (the class is everything before the last `_<digits>`). The link list carries
topology; `LinkList.widgets` carries widget values per node name (and `titles` the UI titles), and
`linklist_to_api` fills the remaining widget inputs with the catalog's defaults. The agents edit the same
object (Flow fills it, Refine repairs it, Execute compiles it): `add`, `rename_class`, `incoming`, ...
and `to_document` / `from_document` for its JSON form `{"nodes": {name: {class_type, inputs}}, "links"}`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from node_catalog.catalog import Catalog
from node_catalog.errors import ConversionError, WorkflowFormatError
from node_catalog.links import is_link
from node_catalog.specs import InputSpec, NodeSpec

_SUFFIX = re.compile(r"^(?P<cls>.+?)_(?P<k>\d+)$")

Link = tuple[str, str, str, str]


def class_of(node_name: str) -> str:
    """`KSampler_0` -> `KSampler`; a name without a numeric suffix is its own class."""
    match = _SUFFIX.match(node_name)
    return match.group("cls") if match else node_name


@dataclass
class LinkList:
    """Edges plus the nodes that have none, and optional widget values per node name."""

    links: list[Link] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)  # every node name, in first-seen order
    widgets: dict[str, dict[str, Any]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)  # only titles other than the node name

    # -- editing (the agents' view: one node = its name, class and widget values) -----------------------
    def values(self, name: str) -> dict[str, Any]:
        """The widget values of a node, as a mutable dict (created empty on first use)."""
        return self.widgets.setdefault(name, {})

    def new_name(self, class_type: str) -> str:
        k = 0
        while f"{class_type}_{k}" in self.nodes:
            k += 1
        return f"{class_type}_{k}"

    def add(self, class_type: str, values: Mapping[str, Any] | None = None) -> str:
        """Append a node of `class_type`; returns its name."""
        name = self.new_name(class_type)
        self.nodes.append(name)
        if values:
            self.widgets[name] = dict(values)
        return name

    def rename_class(self, name: str, class_type: str) -> str:
        """Give a node a new class: it takes the next free `ClassName_k` (same place, values and title)
        and every edge follows."""
        new = self.new_name(class_type)
        self.nodes[self.nodes.index(name)] = new
        if name in self.widgets:
            self.widgets[new] = self.widgets.pop(name)
        if name in self.titles:
            self.titles[new] = self.titles.pop(name)
        self.links = [(new if s == name else s, o, new if d == name else d, i) for s, o, d, i in self.links]
        return new

    def incoming(self, name: str) -> dict[str, tuple[str, str]]:
        """Input name -> (source node, output name) for one node."""
        return {dst_in: (src, out) for src, out, dst, dst_in in self.links if dst == name}

    def consumers(self, name: str) -> list[tuple[str, str, str]]:
        """(output name, consumer node, consumer input) for every edge leaving `name`."""
        return [(out, dst, dst_in) for src, out, dst, dst_in in self.links if src == name]

    def copy(self) -> LinkList:
        return copy.deepcopy(self)

    # -- the JSON document form ------------------------------------------------------------------------
    def to_document(self) -> dict[str, Any]:
        nodes: dict[str, Any] = {}
        for name in self.nodes:
            body: dict[str, Any] = {
                "class_type": class_of(name),
                "inputs": copy.deepcopy(self.widgets.get(name, {})),
            }
            if name in self.titles:
                body["title"] = self.titles[name]
            nodes[name] = body
        return {"nodes": nodes, "links": [list(link) for link in self.links]}

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> LinkList:
        """From `to_document`'s form. A node whose `class_type` is not its name's class is renamed
        `ClassName_k` (edges follow), so the name always tells the class."""
        raw_nodes = data.get("nodes") if isinstance(data, Mapping) else None
        if not isinstance(raw_nodes, Mapping):
            raise ConversionError("a link-list document must have `nodes`: {name: {class_type, inputs}}")
        parsed = cls.parse(data.get("links") or [])
        # node order is the document's (it sets the API ids), then nodes only the links name
        result = cls(links=parsed.links, nodes=[str(n) for n in raw_nodes])
        result.nodes += [n for n in parsed.nodes if n not in result.nodes]
        declared: list[tuple[str, str]] = []
        for name, body in raw_nodes.items():
            body = body if isinstance(body, Mapping) else {}
            name = str(name)
            inputs = body.get("inputs")
            if isinstance(inputs, Mapping) and inputs:
                result.widgets[name] = copy.deepcopy(dict(inputs))
            if isinstance(body.get("title"), str) and body["title"] != name:
                result.titles[name] = body["title"]
            if isinstance(body.get("class_type"), str) and body["class_type"] != class_of(name):
                declared.append((name, body["class_type"]))
        for name, class_type in declared:
            result.rename_class(name, class_type)  # new names are always free ones
        return result

    @classmethod
    def parse(cls, raw: Iterable[Any], *, widgets: Mapping[str, Mapping[str, Any]] | None = None) -> LinkList:
        """From JSON-ish input: a list of 4-item lists; ConversionError names the first bad entry."""
        result = cls(widgets={k: dict(v) for k, v in (widgets or {}).items()})
        if isinstance(raw, (str, bytes, Mapping)):
            raise ConversionError(
                "a link list must be a list of [src_node, output_name, dst_node, input_name]"
            )
        for idx, entry in enumerate(raw):
            if (
                not isinstance(entry, (list, tuple))
                or len(entry) != 4
                or not all(isinstance(x, str) and x for x in entry)
            ):
                raise ConversionError(
                    f"link #{idx} {entry!r} is not [src_node, output_name, dst_node, input_name] (4 strings)"
                )
            link: Link = (entry[0], entry[1], entry[2], entry[3])
            result.links.append(link)
            for name in (link[0], link[2]):
                if name not in result.nodes:
                    result.nodes.append(name)
        for name in result.widgets:
            if name not in result.nodes:
                result.nodes.append(name)
        return result

    def to_json(self) -> list[list[str]]:
        return [list(link) for link in self.links]


def output_slot(spec: NodeSpec, output: str) -> int | None:
    """An output by name, then by type (first of it), then as a slot number ("0")."""
    slot = spec.output_slot(output)
    if slot is None and output.isdigit() and int(output) < len(spec.outputs):
        slot = int(output)
    return slot


def widget_default(ispec: InputSpec, *, neutral: bool = False) -> Any:
    """The catalog's default, else a COMBO's first option, else None. With `neutral` (Refine filling a value
    that must exist) any first option, else the type's neutral value: "" / min or 0 / False."""
    if ispec.default is not None:
        return ispec.default
    if ispec.options and (neutral or ispec.type == "COMBO"):
        return ispec.options[0]
    if not neutral:
        return None
    if ispec.type == "STRING":
        return ""
    if ispec.type in {"INT", "FLOAT"}:
        return ispec.min if ispec.min is not None else 0
    if ispec.type == "BOOLEAN":
        return False
    return None


def linklist_to_api(
    linklist: LinkList | Sequence[Sequence[str]],
    catalog: Catalog,
    *,
    fill_defaults: bool = True,
) -> dict[str, dict[str, Any]]:
    """Build an API workflow; ids are "1", "2", ... in first-seen order, `_meta.title` keeps the node's
    title (its name when it has none)."""
    ll = linklist if isinstance(linklist, LinkList) else LinkList.parse(linklist)
    ids = {name: str(i) for i, name in enumerate(ll.nodes, start=1)}
    specs: dict[str, NodeSpec] = {}
    for name in ll.nodes:
        spec = catalog.get(class_of(name))
        if spec is None:
            hint = ", ".join(h.name for h in catalog.closest(class_of(name), limit=3))
            raise ConversionError(f"unknown node class {class_of(name)!r} (closest: {hint})", node_id=name)
        specs[name] = spec
    workflow: dict[str, dict[str, Any]] = {}
    for name in ll.nodes:
        spec = specs[name]
        inputs: dict[str, Any] = {}
        given = ll.widgets.get(name, {})
        for ispec in spec.inputs.values():
            if ispec.section == "hidden" or not ispec.is_widget:
                continue
            if ispec.name in given:
                inputs[ispec.name] = given[ispec.name]
            elif fill_defaults and ispec.section == "required":
                value = widget_default(ispec)
                if value is not None:
                    inputs[ispec.name] = value
        for key, value in given.items():
            if key not in inputs:
                inputs[key] = value
        title = ll.titles.get(name, name)
        workflow[ids[name]] = {"class_type": spec.name, "inputs": inputs, "_meta": {"title": title}}
    for src, output_name, dst, input_name in ll.links:
        src_spec, dst_spec = specs[src], specs[dst]
        slot = output_slot(src_spec, output_name)
        if slot is None:
            outs = ", ".join(o.name for o in src_spec.outputs) or "none"
            raise ConversionError(
                f"{src_spec.name} has no output {output_name!r} (outputs: {outs})", node_id=src
            )
        if input_name not in dst_spec.inputs or dst_spec.inputs[input_name].section == "hidden":
            ins = ", ".join(i.name for i in dst_spec.inputs.values() if i.section != "hidden")
            raise ConversionError(f"{dst_spec.name} has no input {input_name!r} (inputs: {ins})", node_id=dst)
        workflow[ids[dst]]["inputs"][input_name] = [ids[src], slot]
    return workflow


def api_to_linklist(workflow: Mapping[str, Mapping[str, Any]], catalog: Catalog) -> LinkList:
    """Name nodes `ClassName_k` (k counts per class in id order) and list every link and widget value."""
    from node_catalog.topology import topological_order

    try:
        order = topological_order(workflow)
    except WorkflowFormatError:  # a cycle: keep the given order, the links still describe it
        order = [str(k) for k in workflow]
    order += [str(k) for k in workflow if str(k) not in order]
    counters: dict[str, int] = {}
    names: dict[str, str] = {}
    for node_id in order:
        cls = str(workflow[node_id]["class_type"])
        names[node_id] = f"{cls}_{counters.get(cls, 0)}"
        counters[cls] = counters.get(cls, 0) + 1
    result = LinkList(nodes=[names[n] for n in order])
    for node_id in order:
        node = workflow[node_id]
        values: dict[str, Any] = {}
        for input_name, val in (node.get("inputs") or {}).items():
            if not (is_link(val) and str(val[0]) in names):
                values[input_name] = val
                continue
            src = workflow[str(val[0])]
            src_spec = catalog.get(str(src["class_type"]))
            slot = val[1]
            if src_spec is not None and isinstance(slot, int) and 0 <= slot < len(src_spec.outputs):
                out_name = src_spec.outputs[slot].name
            else:
                out_name = str(slot)
            result.links.append((names[str(val[0])], out_name, names[node_id], input_name))
        if values:
            result.widgets[names[node_id]] = values
        title = (node.get("_meta") or {}).get("title")
        if isinstance(title, str) and title != names[node_id]:
            result.titles[names[node_id]] = title
    return result
