"""Prometheus metrics of one gateway: jobs, queue, ComfyUI latency, generation latency, webhook deliveries,
and per backend of the fleet (issue 13): health, jobs by state, queue length, placements and moves.

Each app has its own `CollectorRegistry` (`Metrics`), so several apps in one process (tests) never collide.
Live numbers (jobs by state in memory, ComfyUI's queue depth from the tracker's last /queue snapshot) are
read at scrape time by a collector; events (submits, finishes, latencies, deliveries) are counted as they
happen. ComfyUI HTTP latency comes from `MetricsTransport`, the httpx transport the lifespan hands to the
`ComfyClient`; route labels are the path's first segment, so ids never become label values.

`/metrics` is served on the main app to admin keys (`metrics_access`), or on a port of its own with
`METRICS_PORT` (bound to HOST, else 127.0.0.1).

Every number is this replica's (each gateway process is scraped on its own). With several replicas
(REDIS_URL), summing over them double counts the gauges of jobs in memory (`comfy_gateway_jobs`,
`comfy_gateway_backend_jobs`: a replica holds copies of jobs another runs) and of ComfyUI's queue
(`comfy_gateway_comfyui_queue_depth`, `comfy_gateway_backend_queue_length`, `comfy_gateway_jobs_held`: every
replica sees the same backends): read them from the replica whose `comfy_gateway_backend_leading` is 1, or
take `max` over replicas. Counters (`*_total`) count what each replica did and sum correctly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.auth.deps import AdminAccess

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from api.jobs.state import Job

PREFIX = "comfy_gateway"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
AGENT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
LIVE_STATES = ("pending", "running")
BACKEND_JOB_STATES = ("submitting", "pending", "running")
HEALTH_STATES = ("up", "draining", "down")


@dataclass(frozen=True)
class BackendSample:
    """One backend of the fleet as /metrics shows it (`api.fleet.Fleet.samples`)."""

    name: str
    health: str  # up | draining (down, jobs still to move off it) | down
    jobs: Mapping[str, int]  # unfinished jobs in this replica's memory, by state
    queue_length: int  # ComfyUI's queue as last seen, at least the gateway's unfinished jobs there
    leading: bool  # this replica follows the backend's events (holds its lease; always, without replicas)


def route_label(path: str) -> str:
    """`/history/<id>` -> `/history`: a bounded label set whatever ids or file names the path holds."""
    first = path.strip("/").split("/", 1)[0]
    return f"/{first}" if first.replace("_", "").isalnum() else "/other"


class _LiveCollector(Collector):
    """Jobs in memory by state and ComfyUI's queue depth, read when Prometheus scrapes."""

    def __init__(self) -> None:
        self.jobs: Callable[[], Iterable[Job]] | None = None
        self.queue: Callable[[], tuple[int, int] | None] | None = None
        self.backends: Callable[[], Iterable[BackendSample]] | None = None
        self.held: Callable[[], int] | None = None

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            f"{PREFIX}_jobs", "Unfinished jobs the gateway follows, by state", labels=["state"]
        )
        counts = dict.fromkeys(LIVE_STATES, 0)
        for job in self.jobs() if self.jobs else ():
            if job.status.value in counts:
                counts[job.status.value] += 1
        for state, n in counts.items():
            jobs.add_metric([state], n)
        yield jobs
        depth = GaugeMetricFamily(
            f"{PREFIX}_comfyui_queue_depth", "ComfyUI's queue at the last snapshot", labels=["queue"]
        )
        snapshot = self.queue() if self.queue else None
        if snapshot is not None:
            depth.add_metric(["running"], snapshot[0])
            depth.add_metric(["pending"], snapshot[1])
        yield depth
        if self.backends is not None:
            yield from self._backends(list(self.backends()))
        if self.held is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_jobs_held",
                "Jobs waiting in the gateway for a backend able to run them",
                self.held(),
            )

    def _backends(self, samples: list[BackendSample]) -> Iterator[Metric]:
        health = GaugeMetricFamily(
            f"{PREFIX}_backend_health",
            "Backend health as this replica's checks see it: 1 for its current state (up, draining, down)",
            labels=["backend", "health"],
        )
        jobs = GaugeMetricFamily(
            f"{PREFIX}_backend_jobs",
            "Unfinished jobs of a backend in this replica, by state",
            labels=["backend", "state"],
        )
        queue = GaugeMetricFamily(
            f"{PREFIX}_backend_queue_length",
            "Jobs queued or running on a backend (its last /queue, at least the gateway's own there)",
            labels=["backend"],
        )
        leading = GaugeMetricFamily(
            f"{PREFIX}_backend_leading",
            "1 when this replica follows the backend's events (holds its lease)",
            labels=["backend"],
        )
        for b in samples:
            for state in HEALTH_STATES:
                health.add_metric([b.name, state], 1 if b.health == state else 0)
            for state in BACKEND_JOB_STATES:
                jobs.add_metric([b.name, state], b.jobs.get(state, 0))
            queue.add_metric([b.name], b.queue_length)
            leading.add_metric([b.name], 1 if b.leading else 0)
        yield from (health, jobs, queue, leading)


class Metrics:
    """Every metric of one app, on its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.live = _LiveCollector()
        r.register(self.live)
        self.jobs_finished = Counter(
            f"{PREFIX}_jobs_finished", "Jobs that reached a terminal state, by state", ["state"], registry=r
        )
        self.comfyui_latency = Histogram(
            f"{PREFIX}_comfyui_request_seconds",
            "ComfyUI HTTP request latency, by method and route",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.agent_latency = Histogram(
            f"{PREFIX}_generation_step_seconds",
            "Generation pipeline step latency, by agent",
            ["agent"],
            buckets=AGENT_BUCKETS,
            registry=r,
        )
        self.webhook_deliveries = Counter(
            f"{PREFIX}_webhook_deliveries",
            "Webhook delivery attempts, by outcome (delivered, retry, failed, refused)",
            ["outcome"],
            registry=r,
        )
        self.limited = Counter(
            f"{PREFIX}_requests_limited", "Requests refused by a limit, by limit", ["limit"], registry=r
        )
        self.placements = Counter(
            f"{PREFIX}_backend_placements",
            "Backends chosen for new jobs (a submission refused by one and sent to another counts twice)",
            ["backend"],
            registry=r,
        )
        self.moves = Counter(
            f"{PREFIX}_job_moves",
            "Jobs moved between backends (`held`: the gateway), by source, target and reason (not_started, "
            "unconfirmed, retry, placed)",
            ["source", "target", "reason"],
            registry=r,
        )

    def follow(self, jobs: Callable[[], Iterable[Job]], queue: Callable[[], tuple[int, int] | None]) -> None:
        """Where the scrape-time collector reads live jobs and the last queue snapshot."""
        self.live.jobs = jobs
        self.live.queue = queue

    def follow_backends(
        self, samples: Callable[[], Iterable[BackendSample]], held: Callable[[], int]
    ) -> None:
        """Where the collector reads the fleet's backends and the number of jobs waiting for one."""
        self.live.backends = samples
        self.live.held = held

    def placed(self, backend: str) -> None:
        self.placements.labels(backend).inc()

    def moved(self, source: str, target: str, reason: str) -> None:
        self.moves.labels(source, target, reason).inc()

    def job_finished(self, job: Job) -> None:
        self.jobs_finished.labels(job.status.value).inc()

    def generation_steps(self, steps: Iterable[Mapping[str, Any]]) -> None:
        """Observe each pipeline step (`{"agent", "ms", ...}`) of a run."""
        for step in steps:
            ms = step.get("ms")
            if isinstance(ms, int | float) and not isinstance(ms, bool):
                self.agent_latency.labels(str(step.get("agent") or "unknown")).observe(ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def transport(self, inner: httpx.AsyncBaseTransport | None = None) -> MetricsTransport:
        return MetricsTransport(self, inner or httpx.AsyncHTTPTransport())


class MetricsTransport(httpx.AsyncBaseTransport):
    """An httpx transport that times each ComfyUI request (a failed connection counts as status `error`)."""

    def __init__(self, metrics: Metrics, inner: httpx.AsyncBaseTransport) -> None:
        self.metrics = metrics
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        status = "error"
        try:
            response = await self.inner.handle_async_request(request)
            status = str(response.status_code)
            return response
        finally:
            route = route_label(request.url.path)
            elapsed = time.perf_counter() - started
            self.metrics.comfyui_latency.labels(request.method, route, status).observe(elapsed)

    async def aclose(self) -> None:
        await self.inner.aclose()


def get_metrics(request: Request) -> Metrics | None:
    """The app's metrics (None in an app assembled without `create_app`: nothing is recorded)."""
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    return metrics


def observe_steps(request: Request, steps: Iterable[Mapping[str, Any]]) -> None:
    """Record a generation run's steps in the app's metrics, if it has any."""
    metrics = get_metrics(request)
    if metrics is not None:
        metrics.generation_steps(steps)


async def metrics_access(principal: AdminAccess) -> None:
    """Only admin keys read /metrics (the open gateway's caller is admin; a port of its own is not keyed)."""
    return None


router = APIRouter(tags=["system"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    dependencies=[Depends(metrics_access)],
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
async def metrics_endpoint(request: Request) -> Response:
    metrics = get_metrics(request)
    return Response(metrics.render() if metrics else b"", media_type=CONTENT_TYPE_LATEST)


def serve_on_port(metrics: Metrics, port: int, host: str) -> Callable[[], None]:
    """Serve the registry on a port of its own (a thread); returns the function that stops it."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=metrics.registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
