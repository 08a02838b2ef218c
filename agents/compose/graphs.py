"""LinkList helpers the composer needs: place a fragment's nodes, share identical nodes, check link types."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agents.compose.errors import PortMismatch
from agents.compose.fragments import Fragment, Target
from node_catalog import Catalog
from node_catalog.linklist import LinkList, class_of, output_slot
from node_catalog.specs import types_match


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)


def place(ll: LinkList, fragment: Fragment) -> dict[str, str]:
    """Add a fragment's nodes and inner links; returns node key -> node name in `ll`."""
    names = {key: ll.add(str(node["class_type"])) for key, node in fragment.nodes.items()}
    for key, node in fragment.nodes.items():
        for input_name, value in (node.get("inputs") or {}).items():
            if _is_link(value):
                ll.links.append((names[value[0]], value[1], names[key], input_name))
            else:
                ll.values(names[key])[input_name] = value
    return names


def set_param(ll: LinkList, names: Mapping[str, str], targets: list[Target], value: Any) -> None:
    for key, input_name in targets:
        ll.values(names[key])[input_name] = value


def connect(ll: LinkList, src: tuple[str, str], names: Mapping[str, str], targets: list[Target]) -> None:
    for key, input_name in targets:
        dst = names[key]
        ll.links = [link for link in ll.links if not (link[2] == dst and link[3] == input_name)]
        ll.widgets.get(dst, {}).pop(input_name, None)
        ll.links.append((src[0], src[1], dst, input_name))


def reroute(ll: LinkList, old: tuple[str, str], new: tuple[str, str], *, within: set[str], skip: str) -> None:
    """Every link from `old` into a node of `within` (except `skip`) now comes from `new`."""
    ll.links = [
        (new[0], new[1], d, i) if (s, o) == old and d in within and d != skip else (s, o, d, i)
        for s, o, d, i in ll.links
    ]


def share_identical(ll: LinkList, catalog: Catalog) -> int:
    """Merge nodes of one class with the same values and the same incoming links (two steps of one family
    load the checkpoint once). Output nodes are kept apart. Returns how many nodes went."""
    removed = 0
    changed = True
    while changed:
        changed = False
        seen: dict[str, str] = {}
        for name in list(ll.nodes):
            spec = catalog.get(class_of(name))
            if spec is None or spec.output_node:
                continue
            incoming = sorted((i, s, o) for s, o, d, i in ll.links if d == name)
            key = json.dumps(
                [class_of(name), ll.widgets.get(name, {}), incoming], sort_keys=True, default=str
            )
            keep = seen.setdefault(key, name)
            if keep == name:
                continue
            ll.links = [(keep if s == name else s, o, d, i) for s, o, d, i in ll.links if d != name]
            ll.nodes.remove(name)
            ll.widgets.pop(name, None)
            ll.titles.pop(name, None)
            removed += 1
            changed = True
    return removed


def check_links(ll: LinkList, catalog: Catalog) -> None:
    """Every class exists and every link joins an output to an input of the same type."""
    for name in ll.nodes:
        if class_of(name) not in catalog:
            raise PortMismatch(f"node class {class_of(name)!r} is not in the catalog")
    for src, out, dst, inp in ll.links:
        src_spec, dst_spec = catalog.get(class_of(src)), catalog.get(class_of(dst))
        assert src_spec is not None and dst_spec is not None
        slot = output_slot(src_spec, out)
        if slot is None:
            raise PortMismatch(f"{src_spec.name} has no output {out!r}")
        ispec = dst_spec.inputs.get(inp)
        if ispec is None or ispec.section == "hidden":
            raise PortMismatch(f"{dst_spec.name} has no input {inp!r}")
        have, want = src_spec.outputs[slot].type, ispec.type
        if not types_match(have, want):
            raise PortMismatch(f"{src_spec.name}.{out} gives {have} but {dst_spec.name}.{inp} takes {want}")
