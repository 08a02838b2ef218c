"""The backend's model files, with the smoke-weights flag read from each safetensors file's metadata.

Metadata reads are cached per file for `ttl` seconds: a listing must not cost one request per file each time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from api.schemas.system import ModelFile
from comfyui_local.smoke_weights import is_smoke_metadata

if TYPE_CHECKING:
    from comfyui_client import ComfyClient

log = logging.getLogger(__name__)

CONCURRENCY = 8


class ModelIndex:
    def __init__(self, client: ComfyClient, *, ttl: float = 300.0) -> None:
        self.client = client
        self.ttl = ttl
        self._smoke: dict[tuple[str, str], tuple[float, bool]] = {}
        self._sem = asyncio.Semaphore(CONCURRENCY)
        self._any_smoke: tuple[float, bool] | None = None

    async def _is_smoke(self, folder: str, filename: str) -> bool:
        if not filename.endswith(".safetensors"):
            return False
        key = (folder, filename)
        cached = self._smoke.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        async with self._sem:
            try:
                meta = await self.client.view_metadata(folder, filename)
            except Exception as exc:  # metadata is a nicety: never fail a listing over it
                log.debug("no metadata for %s/%s: %s", folder, filename, exc)
                meta = None
        flag = is_smoke_metadata(meta)
        self._smoke[key] = (time.monotonic(), flag)
        return flag

    async def folder(self, folder: str) -> list[ModelFile]:
        """Files of one folder; the client raises NotFound for an unknown folder."""
        names = await self.client.models(folder)
        flags = await asyncio.gather(*(self._is_smoke(folder, n) for n in names))
        return [ModelFile(name=n, smoke_weights=f) for n, f in zip(names, flags, strict=True)]

    async def any_smoke(self, *, max_age: float = 60.0) -> bool:
        """Whether any model file is a smoke-weight file; cached so frequent health probes stay cheap."""
        if self._any_smoke is not None and time.monotonic() - self._any_smoke[0] < max_age:
            return self._any_smoke[1]
        folders = await self.all()
        flag = any(m.smoke_weights for files in folders.values() for m in files)
        self._any_smoke = (time.monotonic(), flag)
        return flag

    async def all(self) -> dict[str, list[ModelFile]]:
        folders = await self.client.model_folders()
        listed = await asyncio.gather(*(self._folder_or_empty(f) for f in folders))
        return dict(zip(folders, listed, strict=True))

    async def _folder_or_empty(self, folder: str) -> list[ModelFile]:
        from comfyui_client import NotFound

        try:
            return await self.folder(folder)
        except NotFound:
            return []
