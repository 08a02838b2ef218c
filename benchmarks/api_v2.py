"""Comfy API v2 surface, in-process (ASGI), ComfyUI unreachable, SQLite: a 10 MiB asset upload (blake3 +
content-addressed write) and its dedup re-upload, `HEAD /api/v2/assets/by-hash`, and reading one finished
job through `GET /api/v2/jobs/{id}` beside the spec route `GET /api/workflow/status/{id}`.

`python -m benchmarks api_v2`
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from blake3 import blake3

from api.app import create_app
from api.jobs.state import Job, JobStatus
from api.settings import Settings


async def _timed(n: int, call: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


async def _run() -> None:
    tmp = Path(tempfile.mkdtemp())
    settings = Settings(
        comfyui_url="http://127.0.0.1:9",
        database_url=f"sqlite+aiosqlite:///{tmp / 'bench.db'}",
        checkpoint_db=tmp / "bench.checkpoints.db",
        catalog_source="bundled",
        max_upload_bytes=64 << 20,
        comfyui_timeout=2.0,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.bench") as http:
            data = os.urandom(10 << 20)

            async def upload() -> None:
                resp = await http.post(
                    "/api/v2/assets",
                    files={"file": ("b.bin", data, "application/octet-stream")},
                    data={"content_type": "application/octet-stream", "file_path": "b.bin"},
                )
                assert resp.status_code in (200, 201), resp.text

            first, _ = await _timed(1, upload)
            print(f"   upload 10 MiB, new blob            {first:8.1f} ms")
            print("   upload 10 MiB, dedup (median/p95)  %8.1f / %.1f ms" % await _timed(5, upload))
            digest = "blake3:" + blake3(data).hexdigest()

            async def head() -> None:
                assert (await http.head(f"/api/v2/assets/by-hash/{digest}")).status_code == 200

            print("   HEAD by-hash (median/p95)          %8.2f / %.2f ms" % await _timed(200, head))
            now = time.time()
            job = Job(
                prompt_id="bench",
                workflow={"1": {"class_type": "EmptyImage", "inputs": {}}},
                status=JobStatus.COMPLETED,
                started_at=now,
                finished_at=now,
            )
            await app.state.store.insert(job)
            for label, path in (
                ("v2 GET job", "/api/v2/jobs/bench"),
                ("spec GET status", "/api/workflow/status/bench"),
            ):

                async def get(path: str = path) -> None:
                    assert (await http.get(path)).status_code == 200

                print(f"   {label:18s} (median/p95)      %8.2f / %.2f ms" % await _timed(300, get))


def main() -> None:
    asyncio.run(_run())
