"""node_catalog.digraph answers as networkx did (networkx stays a test-only reference here)."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from node_catalog.digraph import Digraph, GraphCycle
from node_catalog.topology import link_cycles, topological_order


def _key(node: str) -> tuple[int, int | str]:
    return (0, int(node)) if node.isdigit() else (1, node)


def _random_pair(seed: int, *, acyclic: bool) -> tuple[Digraph[str], nx.MultiDiGraph[str]]:
    rng = random.Random(seed)
    ours: Digraph[str] = Digraph()
    ref: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    count = rng.randint(1, 30)
    names = [str(rng.randint(0, 200)) if rng.random() < 0.8 else f"n{i}" for i in range(count)]
    for name in names:
        ours.add_node(name, tag=name)
        ref.add_node(name, tag=name)
    names = list(dict.fromkeys(names))
    for _ in range(rng.randint(0, 3 * len(names))):
        a, b = rng.sample(names, 2) if len(names) > 1 else (names[0], names[0])
        if acyclic and names.index(a) >= names.index(b):
            a, b = b, a
            if a == b:
                continue
        ours.add_edge(a, b, slot=1)
        ref.add_edge(a, b, slot=1)
    return ours, ref


@pytest.mark.parametrize("seed", range(60))
def test_same_answers_as_networkx(seed: int) -> None:
    ours, ref = _random_pair(seed, acyclic=seed % 2 == 0)
    assert list(ours.nodes(data=True)) == list(ref.nodes(data=True))
    assert list(ours.edges(data=True)) == list(ref.edges(data=True))
    assert list(ours.edges(data="slot")) == list(ref.edges(data="slot"))
    for node in ref:
        assert ours.ancestors(node) == nx.ancestors(ref, node)
        assert set(ours.successors(node)) == set(ref.successors(node))
    for src, dst in ref.edges():
        assert ours.get_edge_data(src, dst) == ref.get_edge_data(src, dst)
    assert sorted(map(sorted, ours.strongly_connected_components())) == sorted(
        map(sorted, nx.strongly_connected_components(ref))
    )
    try:
        expected = list(nx.lexicographical_topological_sort(ref, key=_key))
    except nx.NetworkXUnfeasible:
        with pytest.raises(GraphCycle):
            ours.topological_order(key=_key)
    else:
        assert ours.topological_order(key=_key) == expected


def test_keys_and_parallel_edges() -> None:
    g: Digraph[int] = Digraph()
    assert g.add_edge(1, 2) == 0 and g.add_edge(1, 2) == 1 and g.add_edge(1, 2, key="x", a=1) == "x"
    g.add_edge(1, 2, key="x", b=2)  # the same keyed edge: attributes merged, not a new edge
    assert g.get_edge_data(1, 2) == {0: {}, 1: {}, "x": {"a": 1, "b": 2}}
    assert g.get_edge_data(2, 1) is None and not g.has_edge(2, 1)
    assert g.number_of_nodes() == 2 and len(g.nodes) == 2 and 1 in g and 3 not in g
    assert g.topological_order(key=lambda n: n) == [1, 2]


def test_deep_chains_need_no_recursion() -> None:
    depth = 20_000
    workflow = {
        str(i): {"class_type": "ImageInvert", "inputs": {"image": [str(i - 1), 0]} if i else {}}
        for i in range(depth)
    }
    assert topological_order(workflow) == [str(i) for i in range(depth)]
    workflow["0"]["inputs"] = {"image": [str(depth - 1), 0]}
    assert link_cycles(workflow) == [[str(i) for i in range(depth)]]
