"""One backend of the fleet: a ComfyUI server with its own client, node catalog, model index and job tracker.

`Backend.start()` / `stop()` are the one place the backend's tracker (its event stream) starts and stops, so a
lease shared between gateway replicas can wrap them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from api.fleet.spec import BackendSpec
from api.jobs.replica import replicate
from api.jobs.service import Lane
from api.jobs.tracker import JobTracker
from api.metrics import BackendSample
from api.model_index import ModelIndex
from api.redaction import redact

if TYPE_CHECKING:
    import httpx

    from api.jobs.state import Job
    from api.jobs.store import JobStore
    from api.settings import Settings
    from comfyui_client import ComfyClient
    from node_catalog import CatalogProvider

log = logging.getLogger(__name__)


class Backend:
    """A ComfyUI server of the fleet and what the gateway keeps about it (health, catalog, files, jobs)."""

    def __init__(
        self,
        spec: BackendSpec,
        client: ComfyClient,
        catalogs: CatalogProvider,
        tracker: JobTracker,
        models: ModelIndex | None = None,
    ) -> None:
        self.spec = spec
        self.client = client
        self.catalogs = catalogs
        self.tracker = tracker
        self.models = models or ModelIndex(client)
        self.lane = Lane(client, tracker, catalogs.current, catalogs.refresh_now)
        self.healthy = True  # drained (False) after failed health checks; checked again later
        self.failures = 0  # consecutive failed health checks
        self.error: str | None = None  # the last failed check's reason
        self.checked_at: float | None = None  # time.monotonic() of the last check
        self.reserved = 0  # jobs chosen for it whose submission is under way (not in its tracker yet)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def weight(self) -> float:
        return self.spec.weight

    @classmethod
    async def open(
        cls,
        spec: BackendSpec,
        settings: Settings,
        store: JobStore,
        *,
        client_id: str,
        owns: Callable[[Job], bool] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Backend:
        """Client, catalog (read now: live, or the bundled snapshot when the backend does not answer) and
        tracker for one backend; call `start()` to follow its events."""
        from comfyui_client import ComfyClient
        from node_catalog import CatalogProvider

        client = ComfyClient(
            spec.url, client_id=client_id, timeout=settings.comfyui_timeout, transport=transport
        )
        catalogs = CatalogProvider(client, live=settings.catalog_source == "live")
        catalog = await catalogs.get()
        tracker = JobTracker(
            client,
            store,
            workflow_timeout=settings.workflow_timeout,
            output_classes={s.name for s in catalog if s.output_node},
            reconcile_interval=settings.reconcile_interval,
            recent_limit=settings.recent_jobs_cached,
            backend=spec.name,
            owns=owns,
        )
        if (
            settings.redis_url
        ):  # several gateway replicas: one leads this backend (its lease), all hear its jobs
            replicate(tracker, settings.redis_url, backend=spec.name, lease_ttl=settings.lease_ttl)
        backend = cls(spec, client, catalogs, tracker)
        # Down at start: no jobs until a health check finds it up (a fleet of one ignores this).
        backend.healthy = not catalogs.source.startswith("bundled (backend unreachable")
        if not backend.healthy:
            backend.error = "unreachable at start"
        return backend

    async def start(self) -> None:
        """Follow the backend's events (jobs it runs, queue positions); with replicas (REDIS_URL) the tracker
        joins the backend's bus channel and follows the stream only while it holds the backend's lease."""
        await self.tracker.start()

    async def stop(self) -> None:
        await self.tracker.stop()
        await self.client.aclose()

    @property
    def queue_length(self) -> int:
        """Jobs queued or running there: ComfyUI's queue as last seen (other clients' jobs too), at least
        the gateway's own unfinished jobs (those just submitted may not be in the view yet)."""
        snap = self.tracker.queue_view.snapshot
        seen = len(snap.running) + len(snap.pending) if snap is not None else 0
        return max(seen, self.tracker.active_count)

    @property
    def load(self) -> float:
        """Queue length (with jobs on their way to it) per unit of weight: the fleet picks the least."""
        return (self.queue_length + self.reserved) / self.weight

    def missing(self, workflow: Mapping[str, Any]) -> str | None:
        """What this backend lacks to run the workflow (a node class, a model file), or None.

        Node classes come from its catalog; model files from the catalog's loader lists, which are the
        backend's /models (checked only on a live catalog: the bundled snapshot lists no files). Input files
        are not checked: uploads reach every healthy backend (api.routes.files)."""
        catalog = self.catalogs.current()
        live = catalog.source == "live"
        for node in workflow.values():
            if not isinstance(node, Mapping):
                continue
            spec = catalog.get(str(node.get("class_type")))
            if spec is None:
                return f"node class {node.get('class_type')!r}"
            inputs = node.get("inputs")
            if not live or not isinstance(inputs, Mapping):
                continue
            for name, value in inputs.items():
                ispec = spec.inputs.get(name)
                if ispec is None or ispec.model_folder in (None, "input") or ispec.options is None:
                    continue
                if isinstance(value, str) and value not in ispec.options:
                    return f"model file {ispec.model_folder}/{value}"
        return None

    def sample(self, *, draining: bool) -> BackendSample:
        """What /metrics shows of this backend (`draining`: down, with jobs still to move off it)."""
        jobs = Counter(j.status.value for j in self.tracker.jobs.values() if not j.terminal)
        health = "up" if self.healthy else "draining" if draining else "down"
        return BackendSample(self.name, health, jobs, self.queue_length, self.tracker.leading)

    def view(self) -> dict[str, Any]:
        """What /health and /api/queue show of this backend."""
        return {
            "name": self.name,
            "url": redact(self.spec.url),
            "weight": self.weight,
            "tags": sorted(self.spec.tags),
            "healthy": self.healthy,
            "error": self.error,
            "active_jobs": self.tracker.active_count,
            "queue_length": self.queue_length,
            "catalog": {"source": self.catalogs.source, "nodes": len(self.catalogs.current())},
        }
