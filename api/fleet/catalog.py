"""The fleet's API-level node catalog and model files: what the gateway as a whole can run.

A node class or a model file is available when some healthy backend has it (the union of their catalogs),
so converting a UI export, validating a workflow on its own (a batch checks every workflow first) and
planning a generation accept what only one backend offers; placement (`Fleet.choose`) then sends the job to
a backend that has all of it, and that backend's own catalog validates it before it is posted. A fleet of
one serves its backend's own provider instead (`Fleet.catalog` is then that provider): nothing changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from node_catalog import Catalog, CatalogProvider

if TYPE_CHECKING:
    from api.fleet.backend import Backend
    from comfyui_client import ComfyClient


class FleetCatalog(CatalogProvider):
    """A `CatalogProvider` over the fleet's healthy backends (all of them drained: the primary's): each
    backend's provider keeps reading its own /object_info; this one merges what they serve now."""

    def __init__(self, backends: Sequence[Backend]) -> None:
        super().__init__(None, live=False)
        self.backends = list(backends)
        self._union: tuple[tuple[int, ...], Catalog] | None = None  # the last merge, by its parts' identity

    def serving(self) -> list[Backend]:
        """The backends whose catalogs count: the healthy ones with a live catalog (a bundled snapshot lists
        no real files), all the healthy ones when none is live; the primary when none is healthy."""
        healthy = [b for b in self.backends if b.healthy] or self.backends[:1]
        live = [b for b in healthy if b.catalogs.current().source == "live"]
        return live or healthy

    @property
    def source(self) -> str:
        sources = {b.catalogs.source for b in self.serving()}
        return sources.pop() if len(sources) == 1 else "live"

    @property
    def fingerprint(self) -> str:
        return "+".join(b.catalogs.fingerprint for b in self.serving())

    def current(self) -> Catalog:
        catalogs = [b.catalogs.current() for b in self.serving()]
        key = tuple(id(c) for c in catalogs)
        if self._union is None or self._union[0] != key:  # a backend's catalog changed: merge again
            self._union = (key, Catalog.union(catalogs))
        return self._union[1]

    async def get(self) -> Catalog:
        await asyncio.gather(*(b.catalogs.get() for b in self.serving()))
        return self.current()

    async def refresh(self) -> Catalog:
        await asyncio.gather(*(b.catalogs.refresh() for b in self.serving()))
        return self.current()

    async def refresh_now(self) -> bool:
        """Re-read every serving backend's catalog; True when at least one is fresh."""
        fresh = await asyncio.gather(*(b.catalogs.refresh_now() for b in self.serving()))
        return any(fresh)

    async def require_live(self) -> Catalog:
        await asyncio.gather(*(b.catalogs.require_live() for b in self.serving()))
        return self.current()

    def invalidate(self) -> None:
        for backend in self.backends:
            backend.catalogs.invalidate()

    async def models(self, folders: Sequence[str]) -> dict[str, list[str]]:
        """Files per folder over the serving backends (each listed once, in the first backend's order)."""
        listed = await asyncio.gather(*(b.catalogs.models(folders) for b in self.serving()))
        return merge_files(listed)


class FleetModels:
    """The fleet's model files as generation plans see them (a `pipeline.ModelSource`, in place of one
    backend's client): the folders and files of the serving backends, merged."""

    def __init__(self, catalog: FleetCatalog) -> None:
        self.catalog = catalog

    async def model_folders(self) -> list[str]:
        """The model folders some serving backend knows."""
        answers = await self._ask(lambda client: client.model_folders())
        return list(dict.fromkeys(f for folders in answers for f in folders))

    async def models(self, folder: str) -> list[str]:
        """The files of one folder over the serving backends that have it."""
        answers = await self._ask(lambda client: client.models(folder))
        return list(dict.fromkeys(f for files in answers for f in files))

    async def _ask(self, question: Callable[[ComfyClient], Awaitable[list[str]]]) -> list[list[str]]:
        """Every serving backend's answer; those failing are left out (a folder one backend lacks, one not
        answering); all failing: the first one's error (the planner's handling of a backend error applies)."""
        serving = self.catalog.serving()
        answers = await asyncio.gather(*(question(b.client) for b in serving), return_exceptions=True)
        listed = [a for a in answers if not isinstance(a, BaseException)]
        if not listed:
            first = answers[0]
            assert isinstance(first, BaseException)
            raise first
        return listed


def merge_files(listings: Sequence[dict[str, list[str]]]) -> dict[str, list[str]]:
    """Files per folder of several backends: each listed once, in the order first seen."""
    merged: dict[str, dict[str, None]] = {}
    for listing in listings:
        for folder, files in listing.items():
            merged.setdefault(folder, {}).update(dict.fromkeys(files))
    return {folder: list(files) for folder, files in merged.items()}
