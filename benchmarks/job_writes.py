"""The job database's write path alone: a submit's two writes (the `submitting` insert, the `pending` save).

`BENCH_JOBS` (300) jobs of the sample workflow, one at a time, then all at once (the group commit shares
their transactions); wall time and process CPU per job (both writes). SQLite in a temp dir, or
`BENCH_DATABASE_URL` (a PostgreSQL URL, say). Run: `.venv/bin/python -m benchmarks job_writes`.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "fixtures" / "comfyui" / "samples" / "03_createvideo_savevideo_mp4.prompt.json"


async def measure(url: str, jobs: int) -> dict[str, tuple[float, float]]:
    from api.jobs.state import Job, JobStatus
    from api.jobs.store import JobStore

    graph = json.loads(SAMPLE.read_text())
    graph = graph.get("prompt", graph)
    store = JobStore(url)
    await store.open()

    async def one() -> None:
        job = Job(prompt_id=str(uuid.uuid4()), workflow=graph, status=JobStatus.SUBMITTING, request={})
        await store.insert(job)
        job.status = JobStatus.PENDING
        await store.save(job)

    results: dict[str, tuple[float, float]] = {}
    try:
        for _ in range(20):
            await one()
        for name, concurrent in (("one at a time", False), ("all at once", True)):
            wall, cpu = time.perf_counter(), time.process_time()
            if concurrent:
                await asyncio.gather(*(one() for _ in range(jobs)))
            else:
                for _ in range(jobs):
                    await one()
            results[name] = (
                (time.perf_counter() - wall) / jobs * 1e3,
                (time.process_time() - cpu) / jobs * 1e3,
            )
    finally:
        await store.close()
    return results


def main() -> None:
    jobs = int(os.environ.get("BENCH_JOBS", "300"))
    with tempfile.TemporaryDirectory(prefix="bench-writes-") as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp}/jobs.db"
        results = asyncio.run(measure(url, jobs))
    for name, (wall, cpu) in results.items():
        print(f"   insert + save, {name:13s} {wall:7.2f} ms wall, {cpu:6.2f} ms CPU per job")
