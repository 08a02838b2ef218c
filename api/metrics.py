"""Prometheus metrics of one gateway: jobs, queue, ComfyUI latency, generation latency, webhook deliveries.

Each app has its own `CollectorRegistry` (`Metrics`), so several apps in one process (tests) never collide.
Live numbers (jobs by state in memory, ComfyUI's queue depth from the tracker's last /queue snapshot) are
read at scrape time by a collector; events (submits, finishes, latencies, deliveries) are counted as they
happen. ComfyUI HTTP latency comes from `MetricsTransport`, the httpx transport the lifespan hands to the
`ComfyClient`; route labels are the path's first segment, so ids never become label values.

`/metrics` is served on the main app to admin keys (`metrics_access`), or on a port of its own with
`METRICS_PORT` (bound to HOST, else 127.0.0.1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
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


def route_label(path: str) -> str:
    """`/history/<id>` -> `/history`: a bounded label set whatever ids or file names the path holds."""
    first = path.strip("/").split("/", 1)[0]
    return f"/{first}" if first.replace("_", "").isalnum() else "/other"


class _LiveCollector(Collector):
    """Jobs in memory by state and ComfyUI's queue depth, read when Prometheus scrapes."""

    def __init__(self) -> None:
        self.jobs: Callable[[], Iterable[Job]] | None = None
        self.queue: Callable[[], tuple[int, int] | None] | None = None

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

    def follow(self, jobs: Callable[[], Iterable[Job]], queue: Callable[[], tuple[int, int] | None]) -> None:
        """Where the scrape-time collector reads live jobs and the last queue snapshot."""
        self.live.jobs = jobs
        self.live.queue = queue

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
