"""Memory of 10,000 tracked jobs: the gateway's resident set with that many unfinished jobs in its tracker.

Measured in a fresh subprocess (nothing else loaded): the gateway's modules and app are imported and built
(`create_app`), then a `JobTracker` takes `BENCH_JOBS` (10,000) submitted, still-pending jobs exactly as a
submit leaves them (`prepare`, then `submitted`: in `tracker.jobs`, in the queue view), each with its own
copy of the workflow (as each HTTP request parses its own) and the request fields a submit records, the
graph of sample `03_createvideo_savevideo_mp4` (sample 01 with `BENCH_SMALL=1`). The job database is not
written (a store whose writes do nothing): the figure is the tracker's memory. RSS from /proc/self/status
(VmRSS).
Target: < 150 MB RSS in all. Run: `.venv/bin/python -m benchmarks memory`.

The gateway loads the generation pipeline (LangGraph, langchain_core) with its first generation request
(`api.generation_runtime`), so the figure above is a gateway that only runs workflows. A second figure is
the same process after it has served one generation: the bundled catalog loaded, a `pipeline.Generator`
built and one planner run (no LLM, nothing submitted), with the 10,000 jobs still tracked.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "tests" / "fixtures" / "comfyui" / "samples"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def child(count: int, sample: str) -> dict[str, Any]:
    from api.app import create_app
    from api.jobs import JobStore, JobTracker
    from api.jobs.state import Job, JobStatus
    from api.schemas.workflow import SubmitRequest
    from api.settings import Settings
    from comfyui_client import ComfyClient

    create_app(Settings(api_keys=None))  # every module the gateway loads
    text = (SAMPLES / sample).read_text()

    class NoWrites(JobStore):
        async def save(self, job: Job) -> None:
            return None

    client = ComfyClient("http://127.0.0.1:9")
    store = NoWrites("sqlite+aiosqlite:///:memory:")
    tracker = JobTracker(client, store, workflow_timeout=600.0, output_classes={"SaveVideo"})
    gc.collect()
    baseline = rss_mb()
    started = time.perf_counter()
    for number in range(count):
        graph = json.loads(text)
        job = Job(
            prompt_id=str(uuid.uuid4()),
            workflow=graph.get("prompt", graph),
            status=JobStatus.SUBMITTING,
            # what a submit records of its request: the body but its workflow (kept once, as the API graph)
            request=SubmitRequest.model_validate({"workflow": json.loads(text)}).model_dump(
                mode="json", exclude={"workflow"}
            ),
            client_id=client.client_id,
            owner="bench",
        )
        job.number = number
        tracker.prepare(job)
        await tracker.submitted(job)
    elapsed = time.perf_counter() - started
    gc.collect()
    tracked = len([j for j in tracker.jobs.values() if j.status is JobStatus.PENDING])
    rss = rss_mb()
    generated = await _serve_one_generation()
    await client.aclose()
    return {"jobs": tracked, "baseline_mb": baseline, "rss_mb": rss, "seconds": elapsed, **generated}


async def _serve_one_generation() -> dict[str, Any]:
    """What the first generation request adds: the catalog, the pipeline's modules, one compiled graph."""
    from node_catalog import Catalog
    from pipeline import GenerationRequest, Generator

    async with Generator(Catalog.bundled()) as generator:
        result = await generator.generate(GenerationRequest(prompt="a red fox in the snow, photo"))
    gc.collect()
    return {"generated": result.status, "after_generation_mb": rss_mb()}


def measure(count: int, small: bool) -> dict[str, Any]:
    sample = "01_emptyimage_saveimage.prompt.json" if small else "03_createvideo_savevideo_mp4.prompt.json"
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", "--child", str(count), sample],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["sample"] = sample
    return result


def main() -> None:
    result = measure(int(os.environ.get("BENCH_JOBS", "10000")), bool(os.environ.get("BENCH_SMALL")))
    per_job_kb = (result["rss_mb"] - result["baseline_mb"]) * 1024 / max(1, result["jobs"])
    met = result["rss_mb"] < 150
    print(
        f"   {result['jobs']:,} tracked jobs ({result['sample']}): RSS {result['rss_mb']:.1f} MB "
        f"(gateway loaded, no jobs: {result['baseline_mb']:.1f} MB; {per_job_kb:.1f} KB per job); "
        f"target < 150 MB: {'met' if met else 'MISSED'}"
    )
    print(
        f"   the same process after serving one generation (catalog, LangGraph, one planner run: "
        f"{result['generated']}): RSS {result['after_generation_mb']:.1f} MB"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(asyncio.run(child(int(sys.argv[2]), sys.argv[3]))))
    else:
        main()
