"""Live catalogs from a running ComfyUI, cached and refreshed when the backend's node set changes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from node_catalog.catalog import Catalog, ObjectInfoSource, read_object_info
from node_catalog.errors import CatalogError

logger = logging.getLogger(__name__)


async def fetch_models(client: ObjectInfoSource, folders: Sequence[str]) -> dict[str, list[str]]:
    """Files per model folder; folders the backend does not know are left out."""
    result: dict[str, list[str]] = {}
    for folder in folders:
        try:
            result[folder] = list(await client.models(folder))
        except Exception as exc:
            logger.debug("model folder %s unavailable: %s", folder, exc)
    return result


def fingerprint(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class CatalogProvider:
    """Serves a catalog for one backend: live when reachable, the bundled snapshot otherwise.

    Refreshes at most every `ttl` seconds; a refresh that finds the same `/object_info` keeps the parsed
    catalog (so identity-based caches downstream stay warm), a changed one replaces it. `live=False` serves
    the snapshot only. `refresh_now()` re-reads the backend on demand (new input or model files); concurrent
    callers share one fetch. `source` says where the current catalog came from.
    """

    def __init__(
        self,
        client: ObjectInfoSource | None,
        *,
        ttl: float = 300.0,
        fallback: Catalog | None = None,
        live: bool = True,
    ) -> None:
        self._client = client if live else None
        self._why_bundled = "no backend configured" if live else "the live catalog is turned off"
        self._ttl = ttl
        self._fallback = fallback
        self._catalog: Catalog | None = None
        self._fingerprint = ""
        self._source = ""
        self._loaded_at = 0.0
        self._fetched_at = 0.0  # last successful live read
        self._lock = asyncio.Lock()

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def source(self) -> str:
        """ "live", "bundled", or "bundled (backend unreachable at start)"."""
        return self._source

    def current(self) -> Catalog:
        """The catalog served now, without asking the backend (the bundled one before the first `get`)."""
        return self._catalog or self._fallback or Catalog.bundled()

    def invalidate(self) -> None:
        """The backend's files changed (an upload, a new model): the next `get` reads the catalog again, so
        the loaders' file lists include the new file."""
        self._loaded_at = float("-inf")

    async def get(self) -> Catalog:
        if self._catalog is not None and time.monotonic() - self._loaded_at < self._ttl:
            return self._catalog
        return await self.refresh()

    async def refresh(self) -> Catalog:
        async with self._lock:
            if self._client is None:
                return self._use_fallback("bundled", self._why_bundled)
            try:
                return await self._read_live()
            except CatalogError as exc:
                if self._catalog is not None:
                    logger.warning("catalog refresh failed, keeping the previous one: %s", exc)
                    self._loaded_at = time.monotonic()
                    return self._catalog
                return self._use_fallback("bundled (backend unreachable at start)", str(exc))

    async def refresh_now(self) -> bool:
        """Re-read the live catalog now; True when a fresh one is in place (also when another caller's fetch
        finished while this one waited), False when serving the snapshot only or the backend did not answer
        (the previous catalog stays)."""
        if self._client is None:
            return False
        asked_at = time.monotonic()
        async with self._lock:
            if self._fetched_at > asked_at:
                return True  # someone refreshed while we waited
            try:
                await self._read_live()
            except CatalogError as exc:
                logger.warning("could not refresh the node catalog: %s", exc)
                return False
            return True

    async def require_live(self) -> Catalog:
        """The backend's catalog read now, no fallback: CatalogError when it does not answer (for callers that
        need the backend's own catalog, e.g. to submit)."""
        if self._client is None:
            raise CatalogError(f"no live catalog: {self._why_bundled}")
        async with self._lock:
            return await self._read_live()

    async def _read_live(self) -> Catalog:
        assert self._client is not None  # callers check
        data = await read_object_info(self._client)
        fp = fingerprint(data)
        if self._catalog is None or fp != self._fingerprint or self._catalog.source != "live":
            self._catalog = Catalog.from_object_info(data, source="live")
            self._fingerprint = fp
            logger.info("node catalog loaded from backend: %d classes", len(self._catalog))
        self._source = "live"
        self._loaded_at = self._fetched_at = time.monotonic()
        return self._catalog

    def _use_fallback(self, source: str, reason: str) -> Catalog:
        catalog = self._fallback or Catalog.bundled()
        if self._source != source:
            logger.warning("using the bundled node catalog (%s)", reason)
        self._catalog = catalog
        self._fingerprint = "bundled"
        self._source = source
        self._loaded_at = time.monotonic()
        return catalog

    async def models(self, folders: Sequence[str]) -> dict[str, list[str]]:
        if self._client is None:
            return {}
        return await fetch_models(self._client, folders)

    async def models_for(self, workflow: Mapping[str, Any]) -> dict[str, list[str]]:
        """The backend's files in just the folders a workflow names: the `models=` argument of `validate`."""
        from node_catalog.files import required_files

        catalog = await self.get()
        folders = [f for f in required_files(workflow, catalog) if f != "input"]
        return await self.models(folders)
