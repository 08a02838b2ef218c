"""The FastAPI application: `create_app(settings)` and the lifespan that opens what the routes share.

The lifespan opens ONE `ComfyClient` (its client id is stored in the job database so a restarted gateway keeps
receiving its jobs' events), loads the node catalog (live, or the bundled snapshot when configured or when the
backend is down at start), opens the job database, starts the job tracker and opens the checkpoint saver of
generation runs (`api.checkpoints`, `app.state.checkpoints`).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.checkpoints import open_checkpoints
from api.errors import install_error_handlers
from api.jobs import JobService, JobStore, JobTracker
from api.middleware import BodySizeLimit
from api.model_index import ModelIndex
from api.routes import events, files, generation_runs, system, workflow
from api.settings import Settings

if TYPE_CHECKING:
    from comfyui_client import ComfyClient
    from node_catalog import Catalog

log = logging.getLogger(__name__)

# Routers other packages own; included when their module exists.
OPTIONAL_ROUTERS = ("api.routes.generation", "api.routes.templates")

DESCRIPTION = """A REST API in front of ComfyUI: submit workflows (API graphs or editor exports), follow their
progress (polling, Server-Sent Events or WebSocket), download outputs, manage the queue, list models and
upload inputs. Every workflow is validated against the backend's node catalog before it reaches a GPU."""


async def load_catalog(client: ComfyClient, settings: Settings) -> tuple[Catalog, str]:
    """The live catalog, or the bundled snapshot when configured so or when the backend does not answer."""
    from node_catalog import Catalog

    if settings.catalog_source == "bundled":
        return Catalog.bundled(), "bundled"
    try:
        return await Catalog.live(client), "live"
    except Exception as exc:
        log.warning("ComfyUI's /object_info is unavailable (%s): using the bundled node catalog", exc)
        return Catalog.bundled(), "bundled (backend unreachable at start)"


class CatalogRefresher:
    """Re-read the live catalog on demand (new input or model files); concurrent callers share one fetch."""

    def __init__(self, app: FastAPI, client: ComfyClient) -> None:
        self.app = app
        self.client = client
        self._done_at = 0.0
        self._lock = asyncio.Lock()

    async def __call__(self) -> bool:
        """True when a fresh catalog replaced the old one."""
        from node_catalog import Catalog

        if self.app.state.settings.catalog_source == "bundled":
            return False
        asked_at = time.monotonic()
        async with self._lock:
            if self._done_at > asked_at:
                return True  # someone refreshed while we waited
            try:
                self.app.state.catalog = await Catalog.live(self.client)
            except Exception as exc:
                log.warning("could not refresh the node catalog: %s", exc)
                return False
            self._done_at = time.monotonic()
            self.app.state.catalog_source = "live"
            return True


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    from comfyui_client import ComfyClient

    settings: Settings = app.state.settings
    store = JobStore(settings.database_url)
    await store.open()
    client = ComfyClient(
        settings.comfyui_url, client_id=await store.client_id(), timeout=settings.comfyui_timeout
    )
    tracker: JobTracker | None = None
    stack = AsyncExitStack()
    try:
        app.state.checkpoints = await stack.enter_async_context(
            open_checkpoints(settings.checkpoint_db, keep=settings.checkpoint_keep)
        )
        catalog, source = await load_catalog(client, settings)
        tracker = JobTracker(
            client,
            store,
            workflow_timeout=settings.workflow_timeout,
            output_classes={spec.name for spec in catalog if spec.output_node},
            reconcile_interval=settings.reconcile_interval,
        )
        app.state.client = client
        app.state.catalog = catalog
        app.state.catalog_source = source
        app.state.store = store
        app.state.jobs = JobService(client, tracker, lambda: app.state.catalog, CatalogRefresher(app, client))
        app.state.model_index = ModelIndex(client)
        await tracker.start()
        log.info(
            "gateway ready: ComfyUI %s, %d node classes (%s), database %s",
            settings.comfyui_url,
            len(catalog),
            source,
            settings.database_url,
        )
        yield
    finally:
        if tracker is not None:
            await tracker.stop()
        await client.aclose()
        await stack.aclose()
        await store.close()


def _include_optional(app: FastAPI) -> None:
    for name in OPTIONAL_ROUTERS:
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        app.include_router(module.router)
        log.debug("included router %s", name)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title="comfy-gateway", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )
    for module in (workflow, events, files, system, generation_runs):
        app.include_router(module.router)
    _include_optional(app)
    return app
