"""The FastAPI application: `create_app(settings)` and the lifespan that builds, once, what the routes share.

The lifespan opens the fleet (api.fleet: per backend ONE `ComfyClient`, its client id stored in the job
database so a restarted gateway keeps receiving its jobs' events; ONE node-catalog provider, live, or the
bundled snapshot when configured or when the backend is down at start, refreshed on a TTL and on demand; its
model index and job tracker; COMFYUI_URL alone is a fleet of one), the job database, the template library,
the checkpoint saver of generation runs (`api.run_history`) and ONE
`pipeline.Generator` (its graph compiled once, its LLM client closed at shutdown). `api.deps` hands them to
the routes.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig
from starlette.middleware.trustedhost import TrustedHostMiddleware

from api.auth import KeyRing, parse_env_keys
from api.auth.deps import AUTH_RESPONSES
from api.auth.middleware import Access, RequireKey
from api.errors import install_error_handlers
from api.fleet import Backend, Fleet, owner_rule
from api.fleet.catalog import FleetCatalog, FleetModels
from api.generation_runtime import GenerationRuntime
from api.jobs import JobService, JobStore
from api.limits import LIMIT_RESPONSES, Limits, rate_limit
from api.logs import RequestId, configure_logging
from api.metrics import Metrics
from api.metrics import router as metrics_router
from api.metrics import serve_on_port as serve_metrics_on_port
from api.middleware import BodySizeLimit
from api.redaction import install_log_redaction, redact, register_secrets
from api.routes import events, files, generation, generation_runs, system, templates, workflow
from api.routes.fast_reads import FastReads, install_in_front
from api.schemas.errors import document_errors
from api.settings import Settings
from api.v2.surface import install as install_v2
from comfyui_client import StreamTransport

log = logging.getLogger(__name__)

_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

DESCRIPTION = """A REST API in front of ComfyUI: submit workflows (API graphs or editor exports), follow their
progress (polling, Server-Sent Events or WebSocket), download outputs, manage the queue, list models and
upload inputs. Every workflow is validated against the backend's node catalog before it reaches a GPU."""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    from pipeline import TemplateLibrary

    settings: Settings = app.state.settings
    store = JobStore(settings.database_url)
    await store.open()
    fleet: Fleet | None = None
    stack = AsyncExitStack()
    try:
        fleet = await _open_fleet(app, store)
        primary = fleet.primary  # a fleet of one is the single-backend gateway, unchanged
        client, tracker = primary.client, primary.tracker
        catalogs = fleet.catalog  # several backends: the union of their catalogs (api.fleet.catalog)
        library = TemplateLibrary.load(settings.templates_dir)
        several = len(fleet.backends) > 1
        models = FleetModels(fleet.catalog) if isinstance(fleet.catalog, FleetCatalog) else None
        generation = GenerationRuntime(settings, catalogs, client, library, models=models)
        stack.push_async_callback(generation.aclose)
        app.state.fleet = fleet
        app.state.client = client
        app.state.catalogs = catalogs
        app.state.store = store
        app.state.jobs = JobService(
            client,
            tracker,
            catalogs.current,
            catalogs.refresh_now,
            confirm_window=settings.submit_confirm_window,
            cancel_window=settings.cancel_confirm_window,
            limits=settings.graph_limits(),
            validation_budget=settings.validation_budget,
            queue_max_age=settings.queue_max_age,
            placement=fleet if several else None,
        )
        app.state.model_index = primary.models
        app.state.templates = library
        app.state.generation = generation
        await _observe(app, stack, fleet)
        await fleet.start()
        await _attach_keys(app, store)
        for backend in fleet.backends:
            log.info(
                "gateway ready: ComfyUI %s (%s), %d node classes (%s), database %s",
                redact(backend.spec.url),
                backend.name,
                len(backend.catalogs.current()),
                backend.catalogs.source,
                settings.database_url,
            )
        # What startup built (the catalog, the app, the modules) lives as long as the app: a full collection
        # need not walk it again and again under load (issue 13). Thawed at shutdown, so it can be freed.
        gc.freeze()
        yield
    finally:
        gc.unfreeze()
        if fleet is not None:
            await fleet.stop()
        await stack.aclose()
        await store.close()


async def _open_fleet(app: FastAPI, store: JobStore) -> Fleet:
    """A `Backend` (client, catalog, model index, tracker) per COMFYUI_URLS entry, sharing one client id (kept
    in the job database, so a restarted gateway keeps receiving its jobs' events)."""
    settings: Settings = app.state.settings
    metrics: Metrics = app.state.metrics
    specs = settings.backends()
    client_id = await store.client_id()
    owns = owner_rule([s.name for s in specs])
    backends: list[Backend] = []
    try:
        for spec in specs:
            backends.append(
                await Backend.open(
                    spec,
                    settings,
                    store,
                    client_id=client_id,
                    owns=owns(spec.name),
                    transport=metrics.transport(StreamTransport()),
                )
            )
    except BaseException:
        for backend in backends:
            await backend.client.aclose()
        raise
    return Fleet(
        backends,
        health_interval=settings.fleet_health_interval,
        fail_after=settings.fleet_fail_after,
        retry_interval=settings.fleet_retry_interval,
        metrics=metrics,
    )


def _queue_counts(fleet: Fleet) -> tuple[int, int] | None:
    """Running and pending jobs over the fleet's last queue views (None before any view)."""
    snaps = [b.tracker.queue for b in fleet.backends if b.tracker.queue is not None]
    if not snaps:
        return None
    return sum(len(s.running) for s in snaps), sum(len(s.pending) for s in snaps)


async def _observe(app: FastAPI, stack: AsyncExitStack, fleet: Fleet) -> None:
    """Webhooks, quotas and metrics follow every backend tracker's terminal states (issue 12)."""
    from api.webhooks import WebhookSender

    settings: Settings = app.state.settings
    metrics: Metrics = app.state.metrics
    limits: Limits = app.state.limits
    trackers = [b.tracker for b in fleet.backends]
    metrics.follow(lambda: [j for t in trackers for j in t.jobs.values()], lambda: _queue_counts(fleet))
    metrics.follow_backends(fleet.samples, fleet.held_count)
    for tracker in trackers:
        tracker.terminal_hooks += [limits.job_ended, metrics.job_finished]
        tracker.replica_hooks.append(limits.job_ended)  # a job admitted here and ended by another replica
    if settings.redis_url:  # replicas: one rate bucket per caller in Redis, unfinished jobs from the database
        scope = f"comfy-gateway:{fleet.primary.client.client_id}"
        limits.share(settings.redis_url, scope, fleet.primary.tracker.store.count_active)
        stack.push_async_callback(limits.aclose)
    app.state.webhooks = None
    if settings.webhook_secret:
        sender = WebhookSender(settings, metrics=metrics)
        await sender.start()
        stack.push_async_callback(sender.stop)
        for tracker in trackers:
            tracker.terminal_hooks.append(sender.job_finished)
        app.state.webhooks = sender
    if settings.metrics_enabled and settings.metrics_port is not None:
        stack.callback(serve_metrics_on_port(metrics, settings.metrics_port, settings.host or "127.0.0.1"))


async def _attach_keys(app: FastAPI, store: JobStore) -> None:
    """Keys from the job database count from now on; an open gateway says so."""
    keyring: KeyRing = app.state.keyring
    keyring.attach(store)
    if not await keyring.any_keys():
        log.warning(
            "no API key exists: the gateway runs OPEN (every caller is admin). Create one with "
            "`comfy-gateway keys create NAME --scope admin` or set API_KEYS"
        )


def _install_access(app: FastAPI, settings: Settings) -> None:
    """API keys on every route, secrets out of logs and answers, CORS and trusted hosts from settings.

    Added last so they wrap the rest: hosts are checked first, CORS answers preflights, then the key."""
    env = settings.api_keys.get_secret_value() if settings.api_keys else ""
    keyring = KeyRing(parse_env_keys(env), refresh_seconds=settings.keys_refresh_seconds)
    app.state.keyring = keyring
    register_secrets(
        [settings.openai_api_key, *(entry.partition(":")[2].strip() for entry in env.split(","))]
    )
    install_log_redaction()
    app.add_middleware(RequireKey, keyring=keyring, allowed_origins=settings.cors_origins)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )
    if settings.trusted_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.trusted_hosts)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # FastAPI looks for an OpenTelemetry provider on every request unless told not to (issue 13).
    telemetry = None if settings.otel_telemetry else _NO_TELEMETRY
    app = FastAPI(
        title="comfy-gateway",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry=telemetry,
    )
    app.state.settings = settings
    install_error_handlers(app)
    document_errors(app)  # the OpenAPI document shows the error bodies really sent
    app.add_middleware(FastReads)  # innermost: status and queue reads skip FastAPI's routing (issue 13)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        path_limits={"/api/inputs": settings.max_upload_bytes, "/api/v2/assets": settings.max_upload_bytes},
    )
    # Issue 12: logs, request ids, limits, metrics, access.
    if "log_format" in settings.model_fields_set:
        configure_logging(settings)
    app.state.metrics = Metrics()
    app.state.limits = Limits.from_settings(settings, app.state.metrics)
    if settings.metrics_enabled and settings.metrics_port is None:
        app.include_router(metrics_router)
    _install_access(app, settings)
    install_v2(app)  # the Comfy API v2 surface: its routes, its error envelope (outside the key check)
    app.add_middleware(RequestId)  # outermost: even a 401 or a 413 carries its request id
    if not settings.trusted_hosts:  # in front of all: the hot reads skip the stack's layers (issue 13)
        access = Access(app.state.keyring, settings.cors_origins)
        install_in_front(
            app, access, max_body_bytes=settings.max_body_bytes, cors=bool(settings.cors_origins)
        )
    for module in (workflow, events, files, system, generation_runs, generation, templates):
        app.include_router(
            module.router,
            dependencies=[Depends(rate_limit)],
            responses={**LIMIT_RESPONSES, **AUTH_RESPONSES},
        )
    return app
