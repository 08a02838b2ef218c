"""The FastAPI application: `create_app(settings)` and the lifespan that builds, once, what the routes share.

The lifespan opens ONE `ComfyClient` (its client id is stored in the job database so a restarted gateway keeps
receiving its jobs' events), ONE node-catalog provider (live, or the bundled snapshot when configured or when
the backend is down at start; refreshed on a TTL and on demand), the job database and tracker, the template
library, the model index, the checkpoint saver of generation runs (`api.run_history`) and ONE
`pipeline.Generator` (its graph compiled once, its LLM client closed at shutdown). `api.deps` hands them to
the routes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.errors import install_error_handlers
from api.jobs import JobService, JobStore, JobTracker
from api.middleware import BodySizeLimit
from api.model_index import ModelIndex
from api.routes import events, files, generation, generation_runs, system, templates, workflow
from api.run_history import open_checkpoints
from api.schemas.errors import document_errors
from api.settings import Settings

log = logging.getLogger(__name__)

DESCRIPTION = """A REST API in front of ComfyUI: submit workflows (API graphs or editor exports), follow their
progress (polling, Server-Sent Events or WebSocket), download outputs, manage the queue, list models and
upload inputs. Every workflow is validated against the backend's node catalog before it reaches a GPU."""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    from comfyui_client import ComfyClient
    from node_catalog import CatalogProvider
    from pipeline import Generator, TemplateLibrary

    settings: Settings = app.state.settings
    store = JobStore(settings.database_url)
    await store.open()
    client = ComfyClient(
        settings.comfyui_url, client_id=await store.client_id(), timeout=settings.comfyui_timeout
    )
    tracker: JobTracker | None = None
    stack = AsyncExitStack()
    try:
        saver = await stack.enter_async_context(
            open_checkpoints(settings.checkpoint_db, keep=settings.checkpoint_keep)
        )
        catalogs = CatalogProvider(client, live=settings.catalog_source == "live")
        catalog = await catalogs.get()
        tracker = JobTracker(
            client,
            store,
            workflow_timeout=settings.workflow_timeout,
            output_classes={spec.name for spec in catalog if spec.output_node},
            reconcile_interval=settings.reconcile_interval,
        )
        library = TemplateLibrary.load(settings.templates_dir)
        generator = Generator(
            catalogs, llm=settings.llm_config(), client=client, checkpointer=saver, templates=library
        )
        stack.push_async_callback(generator.aclose)
        app.state.client = client
        app.state.catalogs = catalogs
        app.state.store = store
        app.state.checkpoints = saver
        app.state.jobs = JobService(
            client,
            tracker,
            catalogs.current,
            catalogs.refresh_now,
            limits=settings.graph_limits(),
            validation_budget=settings.validation_budget,
        )
        app.state.model_index = ModelIndex(client)
        app.state.templates = library
        app.state.generator = generator
        await tracker.start()
        log.info(
            "gateway ready: ComfyUI %s, %d node classes (%s), database %s",
            settings.comfyui_url,
            len(catalog),
            catalogs.source,
            settings.database_url,
        )
        yield
    finally:
        if tracker is not None:
            await tracker.stop()
        await client.aclose()
        await stack.aclose()
        await store.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title="comfy-gateway", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    document_errors(app)  # the OpenAPI document shows the error bodies really sent
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        path_limits={"/api/inputs": settings.max_upload_bytes},  # uploads keep their bigger limit
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )
    for module in (workflow, events, files, system, generation_runs, generation, templates):
        app.include_router(module.router)
    return app
