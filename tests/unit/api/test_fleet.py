"""The fleet (api.fleet): COMFYUI_URLS parsing, choosing a backend, draining one that went away.

Backends are real ComfyClients over the tests' fake ComfyUI (one `Wire` each) with a real SQLite job store;
the catalogs are the bundled snapshot (or a part of it, for a backend lacking a node class)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from api.errors import RETRY_AFTER_SECONDS
from api.fleet import (
    Backend,
    BackendSpec,
    Fleet,
    FleetConfigError,
    NoBackendAvailable,
    owner_rule,
    parse_backends,
)
from api.jobs import JobService, JobStatus, JobStore, JobTracker
from api.settings import Settings
from comfyui_client import ComfyClient
from node_catalog import Catalog, CatalogProvider
from tests.unit.api.test_tracker_service import GRAPH, Wire, run_to_end
from tests.unit.comfyui_client._comfy_fakes import frame

WAIT = 5.0


# -- COMFYUI_URLS ------------------------------------------------------------------------------------------
def test_comfyui_urls_name_weights_and_tags() -> None:
    a, b = parse_backends("http://a:8188;weight=2;tags=gpu-a100|video, http://b:8188/;name=spare", "unused")
    assert (a.url, a.name, a.weight, a.tags) == (
        "http://a:8188",
        "a:8188",
        2.0,
        frozenset({"gpu-a100", "video"}),
    )
    assert (b.url, b.name, b.weight, b.tags) == ("http://b:8188", "spare", 1.0, frozenset())


def test_without_comfyui_urls_the_fleet_is_comfyui_url_alone() -> None:
    (only,) = Settings(comfyui_url="http://localhost:8188", comfyui_urls="").backends()
    assert (only.url, only.name, only.weight) == ("http://localhost:8188", "localhost:8188", 1.0)


@pytest.mark.parametrize(
    ("urls", "says"),
    [
        ("http://a:8188;weight=0", "weight must be a positive number"),
        ("http://a:8188;weight=x", "weight must be a positive number"),
        ("http://a:8188;colour=red", "unknown option 'colour'"),
        ("http://a:8188;weight", "is not key=value"),
        ("a:8188", "not an http(s) URL"),
        ("http://a:8188,http://a:8188", "named twice"),
    ],
)
def test_a_malformed_comfyui_urls_fails_at_start_up(urls: str, says: str) -> None:
    with pytest.raises(FleetConfigError, match=says.replace("(", r"\(").replace(")", r"\)")):
        parse_backends(urls, "")
    with pytest.raises(ValidationError):
        Settings(comfyui_urls=urls)


def test_the_primary_backend_adopts_jobs_from_before_the_fleet() -> None:
    from api.jobs import Job

    owns = owner_rule(["a", "b"])
    old, on_b, gone = Job("1", {}, backend=None), Job("2", {}, backend="b"), Job("3", {}, backend="removed")
    held = Job("4", {}, backend="")  # waiting in the gateway for a backend: the fleet places it
    assert [owns("a")(j) for j in (old, on_b, gone, held)] == [True, False, True, False]
    assert [owns("b")(j) for j in (old, on_b, gone, held)] == [False, True, False, False]
    assert owner_rule(["a"])("a")(held)  # back to one backend: it runs what a fleet held


# -- a fleet over fake backends ----------------------------------------------------------------------------
class FleetWire(Wire):
    """A fake ComfyUI that also answers the health check (/system_stats) while it is up."""

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/system_stats" and not self.down:
            return httpx.Response(200, json={"system": {"comfyui_version": "fake"}, "devices": []})
        return await super().handle(request)


def without(*classes: str) -> Catalog:
    """The bundled catalog lacking some node classes (a backend without that node pack)."""
    import json

    data = json.loads((Path(__file__).parents[3] / "node_catalog/data/object_info.json").read_text())
    return Catalog.from_object_info({k: v for k, v in data.items() if k not in classes})


@dataclass
class Rig:
    wires: list[FleetWire]
    fleet: Fleet
    service: JobService
    store: JobStore

    def backend(self, job_backend: str | None) -> int:
        return [b.name for b in self.fleet.backends].index(str(job_backend))


Make = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    rigs: list[Rig] = []

    async def build(
        *,
        weights: tuple[float, ...] = (1.0, 1.0),
        catalogs: tuple[Catalog | None, ...] = (),
        tags: tuple[frozenset[str], ...] = (),
    ) -> Rig:
        store = JobStore(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
        await store.open()
        client_id = await store.client_id()
        names = [f"b{i}" for i in range(len(weights))]
        owns = owner_rule(names)
        wires, backends = [], []
        for i, (name, weight) in enumerate(zip(names, weights, strict=True)):
            wire = FleetWire()
            client = ComfyClient(
                f"http://{name}.test:8188",
                client_id=client_id,
                transport=httpx.MockTransport(wire.handle),
                ws_connect=wire.connector,
                reconnect_backoff=(0.001, 0.004),
            )
            catalog = catalogs[i] if i < len(catalogs) else None
            provider = CatalogProvider(client, live=False, fallback=catalog)
            await provider.get()
            tracker = JobTracker(
                client,
                store,
                workflow_timeout=600,
                output_classes={"SaveImage"},
                reconcile_interval=600,
                backend=name,
                owns=owns(name),
            )
            spec = BackendSpec(
                url=f"http://{name}.test:8188",
                name=name,
                weight=weight,
                tags=tags[i] if i < len(tags) else frozenset(),
            )
            wires.append(wire)
            backends.append(Backend(spec, client, provider, tracker))
        fleet = Fleet(backends, health_interval=600, fail_after=2, retry_interval=0.0)
        primary = backends[0]
        service = JobService(
            primary.client,
            primary.tracker,
            primary.catalogs.current,
            placement=fleet if len(backends) > 1 else None,
        )
        await fleet.start()
        async with asyncio.timeout(WAIT):
            for wire in wires:
                await wire.connector.wait_connections(1)
        rig = Rig(wires, fleet, service, store)
        rigs.append(rig)
        return rig

    try:
        yield build
    finally:
        for rig in rigs:
            await rig.fleet.stop()
            await rig.store.close()


async def until(check: Callable[[], Any]) -> None:
    for _ in range(int(WAIT / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never came true")


async def test_jobs_spread_over_the_backends_by_weighted_queue_length(make: Make) -> None:
    rig = await make(weights=(2.0, 1.0))
    placed = [rig.backend((await rig.service.submit(GRAPH)).backend) for _ in range(6)]
    # b0 (weight 2) takes twice the jobs of b1: queue length / weight stays level.
    assert placed.count(0) == 4 and placed.count(1) == 2
    assert len(rig.wires[0].comfy.pending) == 4 and len(rig.wires[1].comfy.pending) == 2
    stored = await rig.store.get(rig.wires[1].comfy.pending_ids[0])
    assert stored is not None and stored.backend == "b1"


async def test_concurrent_submissions_spread_too(make: Make) -> None:
    rig = await make()
    jobs = await asyncio.gather(*(rig.service.submit(GRAPH) for _ in range(6)))
    placed = [j.backend for j in jobs]
    assert placed.count("b0") == 3 and placed.count("b1") == 3, placed
    assert all(b.reserved == 0 for b in rig.fleet.backends)


async def test_status_and_completion_come_from_the_backend_that_runs_the_job(make: Make) -> None:
    rig = await make()
    first, second = await rig.service.submit(GRAPH), await rig.service.submit(GRAPH)
    assert {first.backend, second.backend} == {"b0", "b1"}
    on_b1 = first if first.backend == "b1" else second
    run_to_end(rig.wires[1], on_b1.prompt_id)
    async with asyncio.timeout(WAIT):
        job = await rig.service.wait(on_b1.prompt_id, timeout=WAIT)
    assert job.status is JobStatus.COMPLETED and [o.filename for o in job.outputs] == ["t_00001_.png"]
    assert rig.service.client_of(job) is rig.fleet.backends[1].client


async def test_a_backend_lacking_a_node_class_is_not_chosen(make: Make) -> None:
    rig = await make(catalogs=(without("SaveImage"), None))
    placed = {(await rig.service.submit(GRAPH)).backend for _ in range(3)}
    assert placed == {"b1"}
    assert rig.fleet.backends[0].missing(GRAPH) == "node class 'SaveImage'"


async def test_unstarted_jobs_move_and_a_running_one_is_lost_when_its_backend_goes_away(make: Make) -> None:
    rig = await make()
    jobs = [await rig.service.submit(GRAPH, request={"n": i}) for i in range(4)]
    on_b0 = [j for j in jobs if j.backend == "b0"]
    running, waiting = on_b0
    rig.wires[0].comfy.start(running.prompt_id)
    rig.wires[0].send(frame("execution_start", prompt_id=running.prompt_id, timestamp=1000))
    await until(lambda: running.status is JobStatus.RUNNING)
    events = rig.service.subscribe(waiting.prompt_id)
    assert (await anext(events))["event"] == "queued"

    rig.wires[0].down = True
    await rig.fleet.check_all()
    assert rig.fleet.backends[0].healthy  # one failed check is not enough
    await rig.fleet.check_all()
    assert not rig.fleet.backends[0].healthy

    moved = await rig.service.get(waiting.prompt_id)
    assert moved.backend == "b1" and moved.status is JobStatus.PENDING
    assert waiting.prompt_id in rig.wires[1].comfy.pending_ids  # the same prompt id on the other backend
    assert (await anext(events))["event"] == "requeued"
    lost = await rig.service.get(running.prompt_id)
    assert lost.status is JobStatus.FAILED and lost.error is not None and lost.error.type == "job_lost"
    assert "b0" in lost.error.message
    # New jobs avoid the drained backend; the moved job completes on b1.
    assert (await rig.service.submit(GRAPH)).backend == "b1"
    run_to_end(rig.wires[1], waiting.prompt_id)
    async with asyncio.timeout(WAIT):
        async for ev in events:
            last = ev
    assert last["event"] == "finished" and last["status"] == "completed"
    stored = await rig.store.get(waiting.prompt_id)
    assert stored is not None and stored.backend == "b1"


async def test_a_running_job_whose_request_asked_for_retries_runs_again_elsewhere(make: Make) -> None:
    rig = await make()
    jobs = [await rig.service.submit(GRAPH, request={"retries": 1}) for _ in range(2)]
    job = next(j for j in jobs if j.backend == "b0")
    rig.wires[0].comfy.start(job.prompt_id)
    rig.wires[0].send(frame("execution_start", prompt_id=job.prompt_id, timestamp=1000))
    await until(lambda: job.status is JobStatus.RUNNING)
    rig.wires[0].down = True
    await rig.fleet.check_all()
    await rig.fleet.check_all()
    again = await rig.service.get(job.prompt_id)
    assert again.status is JobStatus.PENDING and again.backend == "b1" and again.attempts == 1
    assert again.started_at is None and again.error is None
    stored = await rig.store.get(job.prompt_id)
    assert stored is not None and stored.attempts == 1


async def test_all_backends_down_refuses_new_jobs_and_keeps_accepted_ones(make: Make) -> None:
    rig = await make()
    jobs = [await rig.service.submit(GRAPH) for _ in range(2)]
    for wire in rig.wires:
        wire.down = True
    await rig.fleet.check_all()
    await rig.fleet.check_all()
    with pytest.raises(NoBackendAvailable) as refused:
        await rig.service.submit(GRAPH)
    assert refused.value.status_code == 503
    assert refused.value.headers() == {"Retry-After": str(RETRY_AFTER_SECONDS)}
    # Accepted jobs wait in the gateway, still known, neither lost nor failed.
    for job in jobs:
        held = await rig.service.get(job.prompt_id)
        assert held.status in (JobStatus.PENDING, JobStatus.SUBMITTING)
    # b1 returns (its ComfyUI restarted: its queue is empty): every held job is submitted to it.
    rig.wires[1].down = False
    rig.wires[1].comfy.pending = []
    await rig.fleet.check_all()
    assert rig.fleet.backends[1].healthy
    assert sorted(rig.wires[1].comfy.pending_ids) == sorted(j.prompt_id for j in jobs)
    for job in jobs:
        placed = await rig.service.get(job.prompt_id)
        assert placed.status is JobStatus.PENDING and placed.backend == "b1"


async def test_a_job_waiting_for_a_backend_can_be_cancelled(make: Make) -> None:
    rig = await make()
    job = await rig.service.submit(GRAPH)
    for wire in rig.wires:
        wire.down = True
    await rig.fleet.check_all()
    await rig.fleet.check_all()
    cancelled = await rig.service.cancel(job.prompt_id)
    assert cancelled.status is JobStatus.CANCELLED
    await until(lambda: job.prompt_id not in rig.fleet.backends[0].tracker.jobs)
    stored = await rig.store.get(job.prompt_id)
    assert stored is not None and stored.status is JobStatus.CANCELLED


async def test_a_fleet_of_one_always_chooses_its_backend(make: Make) -> None:
    rig = await make(weights=(1.0,))
    rig.wires[0].down = True
    await rig.fleet.check_all()
    await rig.fleet.check_all()
    assert rig.fleet.choose(GRAPH) is rig.fleet.primary.lane  # its own errors tell the caller


async def test_backend_tags_choose_among_the_backends_carrying_them(make: Make) -> None:
    from api.errors import BadRequest

    rig = await make(tags=(frozenset({"gpu"}), frozenset({"gpu", "video"})))
    asked = {"backend_tags": ["video"]}
    assert {(await rig.service.submit(GRAPH, request=asked)).backend for _ in range(3)} == {"b1"}
    with pytest.raises(BadRequest, match="no backend carries the tags"):
        await rig.service.submit(GRAPH, request={"backend_tags": ["tpu"]})
    # The only backend carrying the tag went away: its waiting job is held, not moved to one without it.
    waiting = await rig.service.submit(GRAPH, request=asked)
    rig.wires[1].down = True
    await rig.fleet.check_all()
    await rig.fleet.check_all()
    assert rig.fleet.held(waiting.prompt_id) is not None
    assert waiting.prompt_id not in rig.wires[0].comfy.pending_ids
    with pytest.raises(NoBackendAvailable):
        await rig.service.submit(GRAPH, request=asked)


async def test_a_backend_refusing_the_connection_at_submit_passes_the_job_to_another(make: Make) -> None:
    rig = await make()
    rig.wires[0].down = True  # not noticed by a health check yet: still chosen first
    assert rig.fleet.backends[0].healthy
    job = await rig.service.submit(GRAPH)
    assert job.backend == "b1" and rig.wires[1].comfy.pending_ids == [job.prompt_id]
    stored = await rig.store.get(job.prompt_id)
    assert stored is not None and stored.backend == "b1"


async def test_a_held_job_survives_a_gateway_restart_and_runs_when_a_backend_returns(make: Make) -> None:
    rig = await make()
    job = await rig.service.submit(GRAPH)
    for wire in rig.wires:
        wire.down = True
    await rig.fleet.check_all()
    await rig.fleet.check_all()
    assert rig.fleet.held(job.prompt_id) is not None
    stored = await rig.store.get(job.prompt_id)
    assert stored is not None and stored.status is JobStatus.PENDING and stored.backend == ""
    await rig.fleet.stop()
    rig.fleet.backends = []  # stopped: the fixture's teardown has nothing more to stop
    # A new gateway on the same database, with backends that answer (restarted: empty queues).
    again = await make()
    assert again.fleet.held(job.prompt_id) is not None
    assert all(job.prompt_id not in b.tracker.jobs for b in again.fleet.backends)
    await again.fleet.check_all()
    placed = await again.service.get(job.prompt_id)
    assert placed.status is JobStatus.PENDING and placed.backend in ("b0", "b1")
    assert job.prompt_id in again.wires[again.backend(placed.backend)].comfy.pending_ids


async def test_a_job_whose_cancel_was_asked_ends_cancelled_when_its_backend_goes_away(make: Make) -> None:
    rig = await make()
    jobs = [await rig.service.submit(GRAPH) for _ in range(2)]
    job = next(j for j in jobs if j.backend == "b0")
    rig.wires[0].comfy.start(job.prompt_id)
    rig.wires[0].send(frame("execution_start", prompt_id=job.prompt_id, timestamp=1000))
    await until(lambda: job.status is JobStatus.RUNNING)
    rig.wires[0].comfy.hold_interrupts = True  # the interrupt is not confirmed before the backend dies
    rig.service.cancel_window = 0.05
    assert (await rig.service.cancel(job.prompt_id)).status is JobStatus.RUNNING
    rig.wires[0].down = True
    await rig.fleet.check_all()
    await rig.fleet.check_all()
    ended = await rig.service.get(job.prompt_id)
    assert ended.status is JobStatus.CANCELLED and job.prompt_id not in rig.wires[1].comfy.pending_ids


async def test_health_and_queue_show_each_backend_and_skip_a_drained_one(make: Make) -> None:
    from fastapi import FastAPI

    from api.auth import KeyRing
    from api.auth.middleware import RequireKey
    from api.errors import install_error_handlers
    from api.routes import system

    rig = await make()
    jobs = [await rig.service.submit(GRAPH) for _ in range(3)]
    app = FastAPI()
    app.state.settings = Settings(api_keys=None)
    app.state.jobs, app.state.fleet = rig.service, rig.fleet
    app.state.catalogs = rig.fleet.primary.catalogs
    app.state.model_index = rig.fleet.primary.models
    install_error_handlers(app)
    app.include_router(system.router)
    app.add_middleware(RequireKey, keyring=KeyRing(), allowed_origins=[])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test") as http:
        queue = (await http.get("/api/queue")).json()
        assert sorted(e[2]["backend"] for e in queue["pending"]) == ["b0", "b0", "b1"]
        assert [(b["name"], b["pending"]) for b in queue["backends"]] == [("b0", 2), ("b1", 1)]

        rig.wires[1].down = True
        await rig.fleet.check_all()
        await rig.fleet.check_all()
        asked = len(rig.wires[1].comfy.requests)
        queue = (await http.get("/api/queue")).json()
        assert len(rig.wires[1].comfy.requests) == asked  # a drained backend is not asked
        assert {e[1] for e in queue["pending"]} == {j.prompt_id for j in jobs}  # b1's job moved to b0
        b1 = queue["backends"][1]
        assert b1["healthy"] is False and b1["pending"] is None and b1["error"]
        health = await http.get("/health")
        assert health.status_code == 200
        assert [(b["name"], b["healthy"], b["reachable"]) for b in health.json()["backends"]] == [
            ("b0", True, True),
            ("b1", False, False),
        ]
        rig.wires[0].down = True
        await rig.fleet.check_all()
        await rig.fleet.check_all()
        health = await http.get("/health")
        assert health.status_code == 503 and health.headers["Retry-After"]
        assert (await http.get("/api/queue")).status_code == 503


async def test_a_job_whose_submission_was_unconfirmed_moves_when_its_backend_goes_away(make: Make) -> None:
    from api.jobs import Job

    rig = await make()
    b0 = rig.fleet.backends[0].tracker
    job = Job(str(uuid.uuid4()), GRAPH, status=JobStatus.SUBMITTING)
    b0.prepare(job)
    await rig.store.insert(job)
    b0.unconfirmed(job)  # POST /prompt had no clear answer, and b0 cannot be asked
    rig.wires[0].down = True
    await rig.fleet.check_all()
    await rig.fleet.check_all()
    moved = await rig.service.get(job.prompt_id)
    assert moved.status is JobStatus.PENDING and moved.backend == "b1"
    assert rig.wires[1].comfy.pending_ids == [job.prompt_id]
    assert job.prompt_id in b0.withdrawals  # withdrawn from b0 should it come back with it
