"""Two gateway replicas on a fleet of two real local ComfyUIs (issue 13): one PostgreSQL database, one Redis,
`COMFYUI_URLS` naming both backends. Jobs submitted through either replica spread over both backends; any
replica answers status and events for any job; the replica leading both backends is SIGKILLed mid-run: the
other takes each backend's lease within seconds and every job ends. Skipped without TEST_DATABASE_URL /
TEST_REDIS_URL."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_support import fresh
from tests.integration.api.test_faults import FAST, SLOW, body, poll_status
from tests.integration.api.test_fleet_live import two_comfyuis
from tests.integration.api.test_replicas import LEASE_TTL, TERMINAL, lease_holders, replica, sse_events

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

__all__ = ["two_comfyuis"]  # the fixture, imported to be used here
NAMES = ["a", "b"]


def fleet_env(a_url: str, b_url: str) -> dict[str, str]:
    return {
        "COMFYUI_URLS": f"{a_url};name=a,{b_url};name=b",
        "COMFYUI_TIMEOUT": "3",
        "FLEET_HEALTH_INTERVAL": "0.5",
        "FLEET_FAIL_AFTER": "2",
        "FLEET_RETRY_INTERVAL": "1",
    }


async def submit(http: Any, graph: dict[str, Any]) -> str:
    resp = await http.post("/api/workflow/submit", json=body(graph))
    assert resp.status_code == 200, resp.text
    return str(resp.json()["prompt_id"])


async def test_replicas_on_two_backends_one_killed_mid_run_every_job_ends(
    two_comfyuis: Any, tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    comfy_a, comfy_b = two_comfyuis
    env = fleet_env(comfy_a.url, comfy_b.url)
    async with (
        replica(comfy_a.url, tmp_path / "a", postgres_url, redis_url, **env) as (leader, a),
        replica(comfy_a.url, tmp_path / "b", postgres_url, redis_url, **env) as (survivor, b),
    ):
        # The first replica up leads both backends (it took both leases before the second one started).
        assert await lease_holders(postgres_url, redis_url, NAMES) == {"a": leader.pid, "b": leader.pid}

        # Two slow jobs through the first replica, two quick ones through the second: each replica spreads
        # its own over both backends (least loaded in its own view).
        through = {"a": [await submit(a, fresh(SLOW)) for _ in range(2)]}
        through["b"] = [await submit(b, fresh(FAST)) for _ in range(2)]
        slow, quick = through["a"], through["b"]
        jobs = slow + quick
        # Any replica answers for any job, with the same backend.
        placed: dict[str, str] = {}
        for pid in jobs:
            seen = {(await http.get(f"/api/workflow/status/{pid}")).json()["backend"] for http in (a, b)}
            assert len(seen) == 1, (pid, seen)
            placed[pid] = seen.pop()
        for pids in through.values():
            assert {placed[pid] for pid in pids} == set(NAMES), placed
        # Events of a job submitted through the doomed replica, streamed by the survivor across the kill.
        watched = asyncio.create_task(asyncio.wait_for(sse_events(b, slow[0]), 180))

        for pid in slow:  # a job runs on each backend when the leader dies
            await poll_status(b, pid, {"running"}, within=60)
        os.kill(leader.pid, signal.SIGKILL)  # no shutdown, no lease released
        killed = time.monotonic()
        leader.wait(10)
        while set((await lease_holders(postgres_url, redis_url, NAMES)).values()) != {survivor.pid}:
            assert time.monotonic() - killed < LEASE_TTL + 5, "the survivor did not take every lease"
            await asyncio.sleep(0.1)
        took_over = time.monotonic() - killed
        scraped = (await b.get("/metrics")).text  # the survivor says it leads both backends now
        for name in NAMES:
            assert f'comfy_gateway_backend_leading{{backend="{name}"}} 1.0' in scraped, scraped
            assert f'comfy_gateway_backend_health{{backend="{name}",health="up"}} 1.0' in scraped

        finals = {pid: await poll_status(b, pid, TERMINAL, within=120) for pid in jobs}
        settled = time.monotonic() - killed
        # The ComfyUIs kept running: every job completes, whichever replica submitted it.
        assert {pid: f["status"] for pid, f in finals.items()} == dict.fromkeys(jobs, "completed"), finals
        for final in finals.values():
            assert final["output_images"] and (await b.get(final["output_images"][0])).status_code == 200
        events = await watched
        assert events[-1]["status"] == "completed", events

        # The survivor follows both backends now: new jobs on each run and end.
        after = [await submit(b, fresh(FAST)) for _ in range(2)]
        ends = [await poll_status(b, pid, TERMINAL, within=60) for pid in after]
        assert [e["status"] for e in ends] == ["completed", "completed"], ends
        assert survivor.poll() is None
    print(
        f"replicas on a fleet: {len(jobs)} jobs over {sorted(set(placed.values()))}; both leases taken "
        f"{took_over:.1f} s after the SIGKILL, every job ended {settled:.1f} s after it"
    )


async def test_replicas_share_the_rate_bucket_and_the_unfinished_jobs_bound(
    two_comfyuis: Any, tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    """One caller's requests spend one bucket whichever replica answers them (in Redis), and the bound on
    unfinished jobs counts every replica's (the database), not each replica's own."""
    comfy_a, comfy_b = two_comfyuis
    env = {
        **fleet_env(comfy_a.url, comfy_b.url),
        "RATE_LIMIT_PER_SECOND": "0.05",
        "RATE_LIMIT_BURST": "6",
        "MAX_PENDING_JOBS": "2",
    }
    async with (
        replica(comfy_a.url, tmp_path / "a", postgres_url, redis_url, **env) as (_, a),
        replica(comfy_a.url, tmp_path / "b", postgres_url, redis_url, **env) as (_, b),
    ):
        first = await submit(a, fresh(SLOW))
        await submit(b, fresh(SLOW))  # two unfinished jobs, one through each replica
        busy = await b.post("/api/workflow/submit", json=body(fresh(FAST)))
        assert busy.status_code == 503 and busy.json()["code"] == "gateway_busy", busy.text
        assert (await a.get(f"/api/workflow/status/{first}")).status_code == 200  # the 4th request
        assert (await b.get(f"/api/workflow/status/{first}")).status_code == 200
        assert (await a.get("/api/queue")).status_code == 200  # the 6th: the bucket (6) is empty now
        for http in (a, b):
            limited = await http.get(f"/api/workflow/status/{first}")
            assert limited.status_code == 429 and limited.json()["code"] == "rate_limited", limited.text
            assert int(limited.headers["Retry-After"]) >= 1
