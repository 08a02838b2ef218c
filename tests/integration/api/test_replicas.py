"""Several gateway replicas (issue 13) against the real local ComfyUI: two gateway processes on one
PostgreSQL database and one Redis. Any replica answers for any job and streams its events; exactly one
follows ComfyUI's WebSocket (the lease holder), and when it is SIGKILLed mid-job the other takes over within
seconds and the job completes. Skipped without TEST_DATABASE_URL / TEST_REDIS_URL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.fleet import parse_backends
from api.jobs import JobStore
from tests.gateway_support import fresh
from tests.integration.api.test_faults import FAST, SLOW, body, gateway_process, poll_status

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.redis]

LEASE_TTL = 2.0
TERMINAL = {"completed", "failed", "cancelled", "timeout"}


@contextlib.asynccontextmanager
async def replica(
    comfy_url: str,
    state: Path,
    database_url: str,
    redis_url: str,
    lease_ttl: float = LEASE_TTL,
    **env: str,
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """A gateway replica process (`env`: more settings, e.g. COMFYUI_URLS of a fleet)."""
    from comfyui_local import free_port

    await asyncio.to_thread(state.mkdir, parents=True, exist_ok=True)
    port = free_port()
    async with (
        gateway_process(
            comfy_url,
            state,
            port,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            LEASE_TTL=str(lease_ttl),
            **env,
        ) as proc,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):
        yield proc, http


async def lease_holder_pid(database_url: str, redis_url: str, comfy_url: str) -> int | None:
    """The process id of the replica holding the backend's lease (its owner is host:pid:nonce); the lease
    is named after the backend (COMFYUI_URL alone: a fleet of one, named host:port)."""
    (backend,) = parse_backends("", comfy_url)
    return (await lease_holders(database_url, redis_url, [backend.name]))[backend.name]


async def lease_holders(database_url: str, redis_url: str, backends: list[str]) -> dict[str, int | None]:
    """For each backend name, the process id of the replica holding its lease (None: nobody)."""
    store = JobStore(database_url)
    await store.open()
    try:
        client_id = await store.client_id()
    finally:
        await store.close()
    redis = Redis.from_url(redis_url)
    try:
        owners = [await redis.get(f"comfy-gateway:{client_id}:lease:{name}") for name in backends]
    finally:
        await redis.aclose()
    return {
        name: int(owner.decode().split(":")[1]) if owner else None
        for name, owner in zip(backends, owners, strict=True)
    }


async def sse_events(http: httpx.AsyncClient, pid: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with http.stream("GET", f"/api/workflow/{pid}/events", timeout=120) as resp:
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


async def test_any_replica_answers_and_streams_any_job(
    comfyui: Any, tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    async with (
        replica(comfyui.url, tmp_path / "a", postgres_url, redis_url) as (proc_a, a),
        replica(comfyui.url, tmp_path / "b", postgres_url, redis_url) as (proc_b, b),
    ):
        assert await lease_holder_pid(postgres_url, redis_url, comfyui.url) == proc_a.pid  # first one leads
        for submit_on, watch_on in ((a, b), (b, a)):
            resp = await submit_on.post("/api/workflow/submit", json=body(fresh(FAST)))
            assert resp.status_code == 200, resp.text
            pid = resp.json()["prompt_id"]
            events = await asyncio.wait_for(sse_events(watch_on, pid), 90)
            assert events[-1]["status"] == "completed", events
            for http in (a, b):
                final = await poll_status(http, pid, TERMINAL)
                assert final["status"] == "completed" and final["output_images"], final
                assert (await http.get(final["output_images"][0])).status_code == 200
        assert proc_a.poll() is None and proc_b.poll() is None


async def test_the_leader_sigkilled_mid_job_another_replica_takes_over(
    comfyui: Any, tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    async with (
        replica(comfyui.url, tmp_path / "a", postgres_url, redis_url) as (leader, _),
        replica(comfyui.url, tmp_path / "b", postgres_url, redis_url) as (standby, b),
    ):
        assert await lease_holder_pid(postgres_url, redis_url, comfyui.url) == leader.pid
        resp = await b.post("/api/workflow/submit", json=body(fresh(SLOW)))
        assert resp.status_code == 200, resp.text
        pid = resp.json()["prompt_id"]
        await poll_status(b, pid, {"running"})  # the leader saw it start; b knows through the bus
        os.kill(leader.pid, signal.SIGKILL)  # no shutdown, no lease release
        killed = time.monotonic()
        leader.wait(10)
        while await lease_holder_pid(postgres_url, redis_url, comfyui.url) != standby.pid:
            assert time.monotonic() - killed < LEASE_TTL + 5, "the standby did not take over"
            await asyncio.sleep(0.1)
        took_over = time.monotonic() - killed
        final = await poll_status(b, pid, TERMINAL, within=120)
        assert final["status"] == "completed" and final["output_images"], final
        print(f"standby took the lease {took_over:.1f} s after the leader was killed")
        # A new job on the survivor runs and ends as well: it follows ComfyUI's events now.
        resp = await b.post("/api/workflow/submit", json=body(fresh(FAST)))
        assert resp.status_code == 200, resp.text
        again = await poll_status(b, resp.json()["prompt_id"], TERMINAL, within=60)
        assert again["status"] == "completed", again


async def test_a_leader_shut_down_cleanly_hands_over_at_once(
    comfyui: Any, tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    """SIGTERM: the leader releases its lease as it stops, so the standby does not wait for it to expire."""
    ttl = 20.0
    async with (
        replica(comfyui.url, tmp_path / "a", postgres_url, redis_url, ttl) as (leader, _),
        replica(comfyui.url, tmp_path / "b", postgres_url, redis_url, ttl) as (standby, b),
    ):
        assert await lease_holder_pid(postgres_url, redis_url, comfyui.url) == leader.pid
        leader.terminate()
        stopped = time.monotonic()
        while await lease_holder_pid(postgres_url, redis_url, comfyui.url) != standby.pid:
            assert time.monotonic() - stopped < ttl / 2, "the standby waited for the lease to expire"
            await asyncio.sleep(0.1)
        resp = await b.post("/api/workflow/submit", json=body(fresh(FAST)))
        assert resp.status_code == 200, resp.text
        final = await poll_status(b, resp.json()["prompt_id"], TERMINAL, within=60)
        assert final["status"] == "completed", final
