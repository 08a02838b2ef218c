"""The generation pipeline's app-wide objects, built on the first generation request, not at startup.

A gateway that only runs workflows never loads LangGraph and langchain_core (~75 MB resident, issue 13): the
checkpoint saver of generation runs (`api.run_history`) and the ONE `pipeline.Generator` (its graph compiled
once, its LLM client closed at shutdown) are made by `GenerationRuntime` the first time a route asks, under a
lock, and kept. Their modules are imported in a worker thread so the event loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import importlib
import sqlite3
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from api.errors import ApiError
from api.settings import Settings
from comfyui_client import ComfyClient
from pipeline import CatalogSource, ModelSource, TemplateLibrary

if TYPE_CHECKING:
    from api.run_history import PruningSqliteSaver
    from pipeline import Generator


class GenerationUnavailable(ApiError):
    """The generation pipeline could not be set up (its checkpoint database); workflow routes still work."""

    status_code = 503
    code = "generation_unavailable"


def _load_modules() -> None:
    for name in ("api.run_history", "pipeline.generator"):
        importlib.import_module(name)


class GenerationRuntime:
    """Builds the checkpoint saver and the generator once, on first use; `aclose()` at shutdown."""

    def __init__(
        self,
        settings: Settings,
        catalogs: CatalogSource,
        client: ComfyClient,
        templates: TemplateLibrary,
        *,
        models: ModelSource | None = None,
    ) -> None:
        self._settings = settings
        self._catalogs = catalogs
        self._client = client
        self._templates = templates
        self._models = models  # several backends: their merged /models (api.fleet.catalog.FleetModels)
        self._lock = asyncio.Lock()
        self._stack = AsyncExitStack()
        self._saver: PruningSqliteSaver | None = None
        self._generator: Generator | None = None

    async def checkpoints(self) -> PruningSqliteSaver:
        """The app's one checkpoint saver (opened and pruned to `checkpoint_keep` runs on first use)."""
        if self._saver is None:
            await self._build()
        assert self._saver is not None
        return self._saver

    async def generator(self) -> Generator:
        """The app's one `Generator`, checkpointing into `checkpoints()`."""
        if self._generator is None:
            await self._build()
        assert self._generator is not None
        return self._generator

    async def _build(self) -> None:
        async with self._lock:
            if self._generator is not None:
                return  # built by a request that held the lock before us
            await asyncio.to_thread(_load_modules)
            from api.run_history import open_checkpoints
            from pipeline import Generator

            settings = self._settings
            if self._saver is None:
                try:
                    self._saver = await self._stack.enter_async_context(
                        open_checkpoints(settings.checkpoint_db, keep=settings.checkpoint_keep)
                    )
                except (OSError, sqlite3.Error) as exc:  # opened at startup before: now a clear 503
                    raise GenerationUnavailable(
                        f"the checkpoint database {settings.checkpoint_db} cannot be opened ({exc}); "
                        "check CHECKPOINT_DB (a writable path)"
                    ) from exc
            generator = Generator(
                self._catalogs,
                llm=settings.llm_config(),
                client=self._client,
                checkpointer=self._saver,
                templates=self._templates,
                models=self._models,
            )
            self._stack.push_async_callback(generator.aclose)
            self._generator = generator

    async def aclose(self) -> None:
        async with self._lock:
            await self._stack.aclose()
