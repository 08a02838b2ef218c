"""A small directed multigraph: the part of networkx the gateway used (issue 13: networkx cost ~11-22 MB).

`Digraph` keeps nodes and keyed parallel edges with attribute dicts, in insertion order, and answers with
networkx's shapes (`g.nodes[n]`, `g.nodes(data=True)`, `g.edges(data=...)`, `g.get_edge_data(u, v)`), so
callers read it as they read a `networkx.MultiDiGraph`. The algorithms are iterative: a hostile graph can be
deep (node_catalog.limits bounds it, but never by the recursion limit).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

N = TypeVar("N", bound=Hashable)
Attrs = dict[str, Any]


class GraphCycle(ValueError):
    """The graph has a cycle, so it has no topological order."""


class NodeView(Generic[N]):
    """`view[n]` is a node's attribute dict; `view(data=True)` yields `(n, attrs)`, like networkx."""

    def __init__(self, nodes: dict[N, Attrs]) -> None:
        self._nodes = nodes

    def __getitem__(self, node: N) -> Attrs:
        return self._nodes[node]

    def __iter__(self) -> Iterator[N]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def __call__(self, data: bool | str = False) -> Iterator[Any]:
        if data is False:
            return iter(self._nodes)
        if data is True:
            return iter(self._nodes.items())
        return ((n, attrs.get(data)) for n, attrs in self._nodes.items())


class Digraph(Generic[N]):
    """Directed graph allowing parallel edges told apart by a key (networkx's MultiDiGraph semantics)."""

    def __init__(self) -> None:
        self._nodes: dict[N, Attrs] = {}
        self._succ: dict[N, dict[N, dict[Hashable, Attrs]]] = {}
        self._pred: dict[N, dict[N, int]] = {}  # predecessor -> number of parallel edges from it
        self.nodes = NodeView(self._nodes)

    def add_node(self, node: N, **attrs: Any) -> None:
        if node in self._nodes:
            self._nodes[node].update(attrs)
            return
        self._nodes[node] = attrs
        self._succ[node] = {}
        self._pred[node] = {}

    def add_edge(self, src: N, dst: N, key: Hashable | None = None, **attrs: Any) -> Hashable:
        """Adds missing end nodes; without a key, the next free integer (as networkx); returns the key."""
        for node in (src, dst):
            if node not in self._nodes:
                self.add_node(node)
        keyed = self._succ[src].setdefault(dst, {})
        if key is None:
            key = len(keyed)
            while key in keyed:
                key += 1
        if key in keyed:
            keyed[key].update(attrs)
        else:
            keyed[key] = attrs
            self._pred[dst][src] = self._pred[dst].get(src, 0) + 1
        return key

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def number_of_nodes(self) -> int:
        return len(self._nodes)

    def has_edge(self, src: N, dst: N) -> bool:
        return dst in self._succ.get(src, {})

    def get_edge_data(self, src: N, dst: N) -> dict[Hashable, Attrs] | None:
        """{key: attrs} of the edges src -> dst, None when there is none."""
        return self._succ.get(src, {}).get(dst)

    def successors(self, node: N) -> Iterator[N]:
        return iter(self._succ[node])

    def predecessors(self, node: N) -> Iterator[N]:
        return iter(self._pred[node])

    def edges(self, data: bool | str = False) -> Iterator[Any]:
        """`(src, dst)`, `(src, dst, attrs)` with data=True, `(src, dst, attrs[data])` with a name."""
        for src, targets in self._succ.items():
            for dst, keyed in targets.items():
                for attrs in keyed.values():
                    if data is False:
                        yield src, dst
                    elif data is True:
                        yield src, dst, attrs
                    else:
                        yield src, dst, attrs.get(data)

    def ancestors(self, node: N) -> set[N]:
        """Every node with a path to `node`, never `node` itself (as networkx, even on a cycle)."""
        seen: set[N] = set()
        stack = list(self._pred[node])
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(self._pred[current])
        seen.discard(node)
        return seen

    def topological_order(self, key: Callable[[N], Any]) -> list[N]:
        """Sources first; among the nodes ready at once the smallest `key` first. GraphCycle on a cycle."""
        waiting = {n: sum(preds.values()) for n, preds in self._pred.items()}
        ready = [(key(n), i, n) for i, n in enumerate(self._nodes) if waiting[n] == 0]
        heapq.heapify(ready)
        order: list[N] = []
        position = {n: i for i, n in enumerate(self._nodes)}
        while ready:
            _, _, node = heapq.heappop(ready)
            order.append(node)
            for dst, keyed in self._succ[node].items():
                waiting[dst] -= len(keyed)
                if waiting[dst] == 0:
                    heapq.heappush(ready, (key(dst), position[dst], dst))
        if len(order) < len(self._nodes):
            raise GraphCycle("the graph has a cycle")
        return order

    def strongly_connected_components(self) -> list[set[N]]:
        """Tarjan's algorithm, iterative; components in no particular order."""
        index: dict[N, int] = {}
        low: dict[N, int] = {}
        on_stack: set[N] = set()
        stack: list[N] = []
        found: list[set[N]] = []
        for root in self._nodes:
            if root in index:
                continue
            work: list[tuple[N, Iterator[N]]] = [(root, iter(self._succ[root]))]
            index[root] = low[root] = len(index)
            stack.append(root)
            on_stack.add(root)
            while work:
                node, children = work[-1]
                advanced = False
                for child in children:
                    if child not in index:
                        index[child] = low[child] = len(index)
                        stack.append(child)
                        on_stack.add(child)
                        work.append((child, iter(self._succ[child])))
                        advanced = True
                        break
                    if child in on_stack:
                        low[node] = min(low[node], index[child])
                if advanced:
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: set[N] = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    found.append(component)
        return found
