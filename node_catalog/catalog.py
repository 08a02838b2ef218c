"""The Catalog container: the node classes one ComfyUI backend offers, from a snapshot or a live backend."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from typing import Any, Literal, Protocol

from node_catalog.errors import CatalogError
from node_catalog.search import NodeSearch
from node_catalog.specs import NodeSpec, parse_node, types_match

CatalogSource = Literal["bundled", "object_info", "live"]


class ObjectInfoSource(Protocol):
    """The part of `comfyui_client.ComfyClient` the catalog needs."""

    async def object_info(self) -> dict[str, Any]: ...

    async def models(self, folder: str) -> list[str]: ...


async def read_object_info(client: ObjectInfoSource) -> dict[str, Any]:
    """The backend's `/object_info`; its client's errors become `CatalogError` (one seam, one type)."""
    try:
        return await client.object_info()
    except Exception as exc:  # the client's own errors are foreign here
        raise CatalogError(f"could not read /object_info from the backend: {exc}") from exc


class Catalog(NodeSearch):
    """The node classes one ComfyUI backend offers; `search` and `closest` come from `NodeSearch`."""

    def __init__(self, nodes: Mapping[str, NodeSpec], *, source: CatalogSource = "object_info") -> None:
        super().__init__(nodes)
        self.source: CatalogSource = source

    @classmethod
    def from_object_info(cls, data: Mapping[str, Any], *, source: CatalogSource = "object_info") -> Catalog:
        if not isinstance(data, Mapping):
            raise CatalogError(f"object_info must be an object of node classes, got {type(data).__name__}")
        return cls({name: parse_node(name, info) for name, info in data.items()}, source=source)

    @classmethod
    def union(cls, catalogs: Sequence[Catalog]) -> Catalog:
        """Several backends' catalogs as one (a fleet's API-level catalog): every node class one of them
        offers, with the first offering one's spec, whose file lists (COMBOs of a model folder or of the input
        folder) hold the files of every backend offering the class. A single catalog is returned as it is."""
        if len(catalogs) == 1:
            return catalogs[0]
        nodes: dict[str, NodeSpec] = {}
        for catalog in catalogs:
            for spec in catalog:
                known = nodes.get(spec.name)
                nodes[spec.name] = spec if known is None else _with_files_of(known, spec)
        sources = {c.source for c in catalogs}
        return cls(nodes, source=sources.pop() if len(sources) == 1 else "live")

    @classmethod
    def bundled(cls) -> Catalog:
        """The snapshot shipped in node_catalog/data/object_info.json (parsed once per process)."""
        return _bundled()

    @classmethod
    async def live(cls, client: ObjectInfoSource) -> Catalog:
        """Fetch `/object_info` from a backend through a `comfyui_client.ComfyClient`."""
        return cls.from_object_info(await read_object_info(client), source="live")

    @property
    def models_authoritative(self) -> bool:
        """Whether the model-file COMBO options are the backend's real files (not a snapshot's)."""
        return self.source != "bundled"

    def get(self, name: str) -> NodeSpec | None:
        return self._nodes.get(name)

    def __getitem__(self, name: str) -> NodeSpec:
        return self._nodes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[NodeSpec]:
        return iter(self._nodes.values())

    def names(self) -> list[str]:
        return list(self._nodes)

    def producers(self, output_type: str) -> list[NodeSpec]:
        return [s for s in self._nodes.values() if any(types_match(o.type, output_type) for o in s.outputs)]


def _with_files_of(spec: NodeSpec, other: NodeSpec) -> NodeSpec:
    """`spec` whose file lists also hold the files `other` (the same class on another backend) lists."""
    inputs = dict(spec.inputs)
    for name, ispec in spec.inputs.items():
        theirs = other.inputs.get(name)
        if ispec.model_folder is None or ispec.options is None or theirs is None or not theirs.options:
            continue
        extra = tuple(o for o in theirs.options if o not in ispec.options)
        if extra:
            inputs[name] = replace(ispec, options=ispec.options + extra)
    return spec if inputs == spec.inputs else replace(spec, inputs=inputs)


@lru_cache(maxsize=1)
def _bundled() -> Catalog:
    text = resources.files("node_catalog").joinpath("data/object_info.json").read_text(encoding="utf-8")
    return Catalog.from_object_info(json.loads(text), source="bundled")
