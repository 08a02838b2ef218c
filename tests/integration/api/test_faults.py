"""Faults against the real local ComfyUI, each showing no job lost or stuck (issue 12): the gateway process
SIGKILLed mid-job and restarted, its database locked or its disk full, and a bounded load on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.jobs import JobStatus, JobStore
from tests.gateway_support import fresh, gateway_settings, running_gateway

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
FAST = "01_emptyimage_saveimage.prompt.json"
SLOW = "12_slow_interruptible_tiled.prompt.json"


def body(graph: dict[str, Any]) -> dict[str, Any]:
    return {"workflow": {"prompt": graph}}


@contextlib.asynccontextmanager
async def gateway_process(
    comfy_url: str, state: Path, port: int, **settings: str
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`python -m uvicorn --factory api.app:create_app` as its own process, on the given database
    (`settings`: more environment variables, e.g. DATABASE_URL and REDIS_URL of replicas)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "COMFYUI_", "DATABASE_", "API_", "REDIS_"))
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "COMFYUI_URL": comfy_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{state / 'jobs.db'}",
            "CHECKPOINT_DB": str(state / "checkpoints.db"),
            "RECONCILE_INTERVAL": "1.0",
            **settings,
        }
    )
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1"]
    log = (state / f"gateway-{port}.log").open("ab")
    proc = subprocess.Popen(  # noqa: ASYNC220 - Popen returns at once; the wait below is async
        [*cmd, "--port", str(port)], cwd=state, env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            while True:
                assert proc.poll() is None, (state / f"gateway-{port}.log").read_text()[-2000:]
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/health/live")).status_code == 200:
                        break
                assert time.monotonic() < deadline, "the gateway process did not start"
                await asyncio.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(15)
            if proc.poll() is None:
                proc.kill()
        log.close()


async def poll_status(
    http: httpx.AsyncClient, pid: str, until: set[str], within: float = 90
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        resp = await http.get(f"/api/workflow/status/{pid}")
        assert resp.status_code == 200, resp.text
        data: dict[str, Any] = resp.json()
        if data["status"] in until:
            return data
        assert time.monotonic() < deadline, f"{pid} still {data['status']}"
        await asyncio.sleep(0.1)


async def test_gateway_sigkilled_mid_job_and_restarted(comfyui: Any, tmp_path: Path) -> None:
    from comfyui_local import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with gateway_process(comfyui.url, tmp_path, port) as proc, httpx.AsyncClient(base_url=base) as http:
        resp = await http.post("/api/workflow/submit", json=body(fresh(SLOW)), timeout=30)
        assert resp.status_code == 200, resp.text
        pid = resp.json()["prompt_id"]
        await poll_status(http, pid, {"running"})
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown: whatever was in memory is gone
        proc.wait(10)
    async with gateway_process(comfyui.url, tmp_path, port), httpx.AsyncClient(base_url=base) as http:
        final = await poll_status(http, pid, {"completed", "failed", "cancelled", "timeout"})
        assert final["status"] == "completed" and final["output_images"], final


async def test_database_locked_at_submit_waits_then_records(comfyui: Any, tmp_path: Path) -> None:
    settings = gateway_settings(comfyui.url, tmp_path / "locked.db")
    async with running_gateway(settings) as gw:
        locker = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
            submit = asyncio.create_task(gw.http.post("/api/workflow/submit", json=body(fresh(FAST))))
            await asyncio.sleep(1.5)
            assert not submit.done()  # waiting for the lock: not posted to ComfyUI before it is recorded
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        resp = await submit
        assert resp.status_code == 200, resp.text
        final = await gw.wait(resp.json()["prompt_id"])
        assert final["status"] == "completed", final


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (root only): the job database on a disk that can fill up."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as f:
        while True:
            f.write(b"\0" * 4096)
    return filler


async def test_disk_full_refuses_new_jobs_and_keeps_running_ones(
    comfyui: Any, tmp_path: Path, tiny_disk: Path
) -> None:
    settings = gateway_settings(comfyui.url, tiny_disk / "jobs.db", checkpoint_db=tmp_path / "cp.db")
    async with running_gateway(settings) as gw:
        running = await gw.submit(fresh(SLOW))
        await gw.wait(running, until={"running"})
        filler = fill(tiny_disk)
        try:
            resp = await gw.http.post("/api/workflow/submit", json=body(fresh(FAST)))
            assert resp.status_code == 503 and resp.headers["Retry-After"], resp.text
            assert resp.json()["code"] == "database_unavailable"
            # The job that was already running ends and is served from memory though it cannot be written.
            final = await gw.wait(running, within=90)
            assert final["status"] == "completed", final
            queue = await gw.app.state.client.queue()
            assert not queue.pending and not queue.running  # the refused job never reached ComfyUI
        finally:
            filler.unlink()
        ok = await gw.submit(fresh(FAST))
        assert (await gw.wait(ok))["status"] == "completed"
        store: JobStore = gw.app.state.store
        deadline = time.monotonic() + 30
        while (job := await store.get(running)) is None or job.status is not JobStatus.COMPLETED:
            assert time.monotonic() < deadline, "the finished job was never written once space came back"
            await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_bounded_load_every_job_accounted_for(comfyui: Any, tmp_path: Path) -> None:
    """60 concurrent submits of model-free jobs with status reads alongside: no 5xx, every job completed."""
    settings = gateway_settings(comfyui.url, tmp_path / "load.db", comfyui_timeout=20.0)
    started = time.monotonic()
    async with running_gateway(settings) as gw:
        statuses: list[int] = []

        async def one(i: int) -> str:
            graph = fresh(FAST, **{"1.width": 32 + i % 8, "1.height": 32})
            resp = await gw.http.post(
                "/api/workflow/submit", json=body(graph), headers={"Idempotency-Key": f"load-{i}"}
            )
            statuses.append(resp.status_code)
            assert resp.status_code == 200, resp.text
            pid: str = resp.json()["prompt_id"]
            for _ in range(3):
                statuses.append((await gw.http.get(f"/api/workflow/status/{pid}")).status_code)
            return pid

        pids = await asyncio.gather(*(one(i) for i in range(60)))
        assert len(set(pids)) == 60 and all(s < 500 for s in statuses)
        for pid in pids:
            assert (await gw.wait(pid, within=max(5.0, 55 - (time.monotonic() - started))))[
                "status"
            ] == "completed"
    store = JobStore(settings.database_url)
    await store.open()
    try:
        recorded = await store.recent(1000)
    finally:
        await store.close()
    assert sorted(j.prompt_id for j in recorded) == sorted(pids)
    assert {j.status for j in recorded} == {JobStatus.COMPLETED}
    assert time.monotonic() - started < 60
