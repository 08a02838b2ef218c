"""A fleet of two real local ComfyUI processes behind one gateway (issue 13): jobs spread over both; one is
SIGKILLed mid-run: its unstarted job completes on the other, its running job is `job_lost`, nothing hangs;
both down: 503 with Retry-After."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_support import fresh, gateway_settings, local_comfyui_pair, running_gateway

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # two ComfyUIs start: 20-60 s

SLOW = "12_slow_interruptible_tiled.prompt.json"
QUICK = "01_emptyimage_saveimage.prompt.json"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def two_comfyuis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """Two ComfyUIs of this module's own (these tests kill them), started side by side."""
    with local_comfyui_pair(tmp_path_factory.mktemp("fleet")) as pair:
        yield pair


async def test_jobs_spread_and_a_killed_backend_loses_nothing(two_comfyuis: Any, tmp_path: Path) -> None:
    a, b = two_comfyuis
    settings = gateway_settings(
        a.url,
        tmp_path / "fleet.db",
        comfyui_urls=f"{a.url};name=a,{b.url};name=b",
        comfyui_timeout=3.0,
        fleet_health_interval=0.5,
        fleet_fail_after=2,
        fleet_retry_interval=1.0,
    )
    async with running_gateway(settings) as gw:
        health = await gw.http.get("/health")
        assert health.status_code == 200, health.text
        assert [(x["name"], x["healthy"], x["reachable"]) for x in health.json()["backends"]] == [
            ("a", True, True),
            ("b", True, True),
        ]
        # An input reaches both backends: whichever runs the job has it.
        up = await gw.http.post(
            "/api/inputs", json={"base64": base64.b64encode(PNG).decode(), "filename": "f.png"}
        )
        assert up.status_code == 200, up.text
        assert all((c.base_dir / "input" / up.json()["name"]).is_file() for c in (a, b))

        # Least loaded first: slow jobs start on a and b, then a quick one waits behind each.
        slow_a, slow_b = await gw.submit(fresh(SLOW)), await gw.submit(fresh(SLOW))
        quick_a, quick_b = await gw.submit(fresh(QUICK)), await gw.submit(fresh(QUICK))
        jobs = gw.app.state.jobs
        placed = {pid: (await jobs.get(pid)).backend for pid in (slow_a, slow_b, quick_a, quick_b)}
        assert placed == {slow_a: "a", slow_b: "b", quick_a: "a", quick_b: "b"}, placed
        queue = (await gw.http.get("/api/queue")).json()
        assert {e["name"] for e in queue["backends"]} == {"a", "b"}

        await gw.wait(slow_a, until={"running"}, within=60)
        assert (await gw.status(quick_a))["status"] == "pending"
        started = time.monotonic()
        await asyncio.to_thread(a.stop, kill=True)

        lost = await gw.wait(slow_a, within=30)
        assert lost["status"] == "failed" and lost["error"]["type"] == "job_lost", lost
        moved = await gw.wait(quick_a, within=120)
        assert moved["status"] == "completed", moved
        assert (await jobs.get(quick_a)).backend == "b"
        for pid in (slow_b, quick_b):
            assert (await gw.wait(pid, within=120))["status"] == "completed"
        took = time.monotonic() - started
        # The moved job's output is served from the backend that made it.
        url = moved["output_images"][0]
        image = await gw.http.get(url.replace("http://gateway.test", ""))
        assert image.status_code == 200 and image.content[:4] == b"\x89PNG"

        health = await gw.http.get("/health")
        assert health.status_code == 200
        assert [(x["name"], x["healthy"]) for x in health.json()["backends"]] == [("a", False), ("b", True)]
        # New jobs go to the backend that is left.
        assert (await jobs.get(await gw.submit(fresh(QUICK)))).backend == "b"

        await asyncio.to_thread(b.stop, kill=True)
        for _ in range(100):
            if not any(x.healthy for x in gw.app.state.fleet.backends):
                break
            await asyncio.sleep(0.1)
        refused = await gw.http.post("/api/workflow/submit", json={"workflow": fresh(QUICK)})
        assert refused.status_code == 503 and refused.headers["Retry-After"], refused.text
        assert refused.json()["code"] == "no_backend_available"
        assert (await gw.http.get("/health")).status_code == 503
    print(f"fleet: kill to every job settled {took:.1f} s")
