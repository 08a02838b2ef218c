"""Live catalogs from a running ComfyUI, cached and refreshed when the backend's node set changes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from node_catalog.catalog import Catalog, ObjectInfoSource

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
    catalog (so identity-based caches downstream stay warm), a changed one replaces it.
    """

    def __init__(
        self, client: ObjectInfoSource | None, *, ttl: float = 300.0, fallback: Catalog | None = None
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._fallback = fallback
        self._catalog: Catalog | None = None
        self._fingerprint = ""
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    async def get(self) -> Catalog:
        if self._catalog is not None and time.monotonic() - self._loaded_at < self._ttl:
            return self._catalog
        return await self.refresh()

    async def refresh(self) -> Catalog:
        async with self._lock:
            if self._client is None:
                return self._use_fallback("no backend configured")
            try:
                data = await self._client.object_info()
            except Exception as exc:
                if self._catalog is not None:
                    logger.warning("catalog refresh failed, keeping the previous one: %s", exc)
                    self._loaded_at = time.monotonic()
                    return self._catalog
                return self._use_fallback(str(exc))
            fp = fingerprint(data)
            if self._catalog is None or fp != self._fingerprint or self._catalog.source != "live":
                self._catalog = Catalog.from_object_info(data, source="live")
                self._fingerprint = fp
                logger.info("node catalog loaded from backend: %d classes", len(self._catalog))
            self._loaded_at = time.monotonic()
            return self._catalog

    def _use_fallback(self, reason: str) -> Catalog:
        catalog = self._fallback or Catalog.bundled()
        logger.warning("using the bundled node catalog (%s)", reason)
        self._catalog = catalog
        self._fingerprint = "bundled"
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
