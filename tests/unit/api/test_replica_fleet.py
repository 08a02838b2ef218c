"""Two gateway replicas, each a fleet of the same two backends (api.fleet + api.jobs.replica): one fake
ComfyUI per backend, one job database, an in-process bus per backend. Replica 1 leads both backends (it
follows their event streams); replica 2 stands by. A drain is the leader's: the job it moves is seen by the
other replica (its copy leaves the drained backend) and followed by the leader of its new backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.fleet import Backend, BackendSpec, Fleet, owner_rule
from api.jobs import JobService, JobStatus, JobStore, JobTracker
from api.jobs.bus import InProcessBus
from api.jobs.replica import Replication
from comfyui_client import ComfyClient
from node_catalog import CatalogProvider
from tests.unit.api.test_fleet import WAIT, FleetWire, until
from tests.unit.api.test_replica_trackers import StandbyLease
from tests.unit.api.test_tracker_service import GRAPH, run_to_end

NAMES = ("b0", "b1")
Replicas = tuple[list[FleetWire], list[Fleet], list[JobService]]


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Callable[[], Awaitable[Replicas]]]:
    opened: list[tuple[Fleet, JobStore]] = []

    async def build() -> Replicas:
        wires = [FleetWire() for _ in NAMES]
        peers: dict[str, list[InProcessBus]] = {name: [] for name in NAMES}  # one channel per backend
        owns = owner_rule(list(NAMES))
        fleets, services = [], []
        for lease in (None, StandbyLease()):  # replica 1 always leads; replica 2 never does
            store = JobStore(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
            await store.open()
            client_id = await store.client_id()  # one database: one client id for every replica
            backends = []
            for name, wire in zip(NAMES, wires, strict=True):
                client = ComfyClient(
                    f"http://{name}.test:8188",
                    client_id=client_id,
                    transport=httpx.MockTransport(wire.handle),
                    ws_connect=wire.connector,
                    reconnect_backoff=(0.001, 0.004),
                )
                provider = CatalogProvider(client, live=False)
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
                bus = InProcessBus(peers[name])
                tracker.replica = Replication(tracker, bus, lease)  # type: ignore[arg-type]
                spec = BackendSpec(url=f"http://{name}.test:8188", name=name)
                backends.append(Backend(spec, client, provider, tracker))
            fleet = Fleet(backends, health_interval=600, fail_after=2, retry_interval=0.0)
            opened.append((fleet, store))
            await fleet.start()
            primary = backends[0]
            services.append(
                JobService(primary.client, primary.tracker, primary.catalogs.current, placement=fleet)
            )
            fleets.append(fleet)
        async with asyncio.timeout(WAIT):
            for wire in wires:
                await wire.connector.wait_connections(1)  # only the leader opens the sockets
        return wires, fleets, services

    try:
        yield build
    finally:
        for fleet, store in opened:
            await fleet.stop()
            await store.close()


async def test_two_replicas_agree_on_a_job_moved_by_the_leaders_drain(
    replicas: Callable[[], Awaitable[Replicas]],
) -> None:
    wires, (leader, standby), (_, service) = await replicas()
    job = await service.submit(GRAPH)  # through the standby replica
    assert job.backend == "b0"
    pid = job.prompt_id
    await until(lambda: pid in leader.backends[0].tracker.jobs)  # the leader of b0 follows it
    events = service.subscribe(pid)
    assert (await anext(events))["event"] == "queued"

    wires[0].down = True
    for _ in range(3):  # the standby sees b0 fail too, but does not lead it: it moves nothing
        await standby.check_all()
    assert not standby.backends[0].healthy
    assert pid in standby.backends[0].tracker.jobs and pid not in wires[1].comfy.pending_ids
    await leader.check_all()
    await leader.check_all()

    # Moved once, by the leader of b0, under the same prompt id; the leader of b1 follows it.
    assert wires[1].comfy.pending_ids.count(pid) == 1
    assert pid in leader.backends[1].tracker.jobs and pid not in leader.backends[0].tracker.jobs
    # The standby's copy left b0 (no write of its own); its subscriber heard of the move.
    requeued: dict[str, Any] = await asyncio.wait_for(anext(events), WAIT)
    assert requeued["event"] == "requeued" and requeued["backend"] == "b0"
    assert pid not in standby.backends[0].tracker.jobs
    seen = await service.get(pid)
    assert seen.backend == "b1" and seen.status is JobStatus.PENDING
    for _ in range(2):  # nothing left to move on either replica
        await standby.check_all()
        await leader.check_all()
    assert wires[1].comfy.pending_ids.count(pid) == 1

    # It completes on b1: the standby's subscriber gets the end from b1's channel.
    run_to_end(wires[1], pid)
    async with asyncio.timeout(WAIT):
        async for ev in events:
            last = ev
    assert last["event"] == "finished" and last["status"] == "completed"
    done = await service.get(pid)
    assert done.status is JobStatus.COMPLETED and done.backend == "b1"


async def test_held_jobs_are_placed_once_by_the_primarys_leader_from_their_rows(
    replicas: Callable[[], Awaitable[Replicas]],
) -> None:
    wires, (leader, standby), (_, service) = await replicas()
    job = await service.submit(GRAPH)
    pid = job.prompt_id
    await until(lambda: pid in leader.backends[0].tracker.jobs)
    for wire in wires:
        wire.down = True
    for fleet in (standby, leader, standby, leader):
        await fleet.check_all()
    held = await service.get(pid)
    assert held.backend == "" and held.status is JobStatus.PENDING  # recorded waiting in the gateway
    leader._held.clear()  # as if the leader had restarted: its next round reads the held rows

    wires[1].down = False
    wires[1].comfy.pending = []
    for _ in range(2):  # the standby does not lead the primary: it never places held jobs
        await standby.check_all()
    assert pid not in wires[1].comfy.pending_ids
    await leader.check_all()
    await leader.check_all()
    assert wires[1].comfy.pending_ids.count(pid) == 1
    placed = await service.get(pid)
    assert placed.backend == "b1" and placed.status is JobStatus.PENDING
