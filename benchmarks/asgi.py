"""The gateway's own cost per request, without sockets: its ASGI app called in a loop, in-process.

Against the local CPU ComfyUI (`comfyui_local`): the app is built by `create_app` (SQLite in a temp dir, no
API keys, pending-job bounds off), its lifespan run, one model-free job (sample 03) submitted and waited
for; then `BENCH_CALLS` (3000) status reads, queue reads and (a tenth as many) submits, one at a time, each a
direct call of the app with a prepared HTTP scope, and as many submits again 32 at a time (`submit32`: the
time per submit). What this leaves out (uvicorn, HTTP parsing, loopback)
is the same for every server; what it shows is the gateway's own part, and it is steadier than `http` on a
shared machine. Each figure is the wall time and the process's CPU time per request (CPU time counts only
this process, so other work on a shared machine moves it far less).

Then `status x32`: 32 clients in one loop, each reading the status again as soon as it has its answer, for
`BENCH_CONCURRENT_SECONDS` (3): requests/s, CPU per request and the latency p50 / p99 / max. A stall of the
event loop (a periodic check every request waits for, a long collection) shows in p99 and max; the same
figures for the floor (`benchmarks/_bare.py`, called the same way) are printed beside them.
Run: `.venv/bin/python -m benchmarks asgi`.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "fixtures" / "comfyui" / "samples" / "03_createvideo_savevideo_mp4.prompt.json"
Headers = list[tuple[bytes, bytes]]


async def call(
    app: Any, method: str, path: str, body: bytes = b"", headers: Headers | None = None
) -> list[Any]:
    sent: list[Any] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await app(scope, receive, send)
    return sent


async def concurrent(app: Any, path: str, seconds: float, clients: int = 32) -> dict[str, float]:
    """`clients` loops reading `path` back to back for `seconds`: req/s, CPU us per request, latency ms."""
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < stop:
            await asyncio.sleep(0)  # the next request arrives as a socket read would: the others run first
            began = time.perf_counter()
            await call(app, "GET", path)
            latencies.append(time.perf_counter() - began)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    latencies.sort()
    n = len(latencies)
    return {
        "rps": n / wall,
        "cpu_us": cpu / n * 1e6,
        "p50_ms": latencies[n // 2] * 1e3,
        "p99_ms": latencies[int(n * 0.99)] * 1e3,
        "max_ms": latencies[-1] * 1e3,
    }


async def measure(comfy_url: str, tmp: Path, calls: int) -> dict[str, Any]:
    from api.app import create_app
    from api.settings import Settings

    graph = json.loads(SAMPLE.read_text())
    graph = graph.get("prompt", graph)
    settings = Settings(
        comfyui_url=comfy_url,
        database_url=f"sqlite+aiosqlite:///{tmp / 'jobs.db'}",
        checkpoint_db=tmp / "checkpoints.db",
        log_level="WARNING",
        max_pending_jobs=0,
        max_pending_per_key=0,
        api_keys=None,
    )
    app = create_app(settings)
    results: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        body = json.dumps({"workflow": graph}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        sent = await call(app, "POST", "/api/workflow/submit", body, headers)
        pid = json.loads(sent[1]["body"])["prompt_id"]
        for _ in range(600):
            sent = await call(app, "GET", f"/api/workflow/status/{pid}")
            if json.loads(sent[1]["body"])["status"] == "completed":
                break
            await asyncio.sleep(0.05)

        async def submit() -> list[Any]:
            return await call(app, "POST", "/api/workflow/submit", body, headers)

        async def submit_32() -> list[Any]:  # 32 in flight: what the group commit shares
            return [await asyncio.gather(*(submit() for _ in range(32)))]

        runs = {
            "status": (calls, lambda: call(app, "GET", f"/api/workflow/status/{pid}"), 1),
            "queue": (calls, lambda: call(app, "GET", "/api/queue"), 1),
            "submit": (max(1, calls // 10), submit, 1),
            "submit32": (max(1, calls // 320), submit_32, 32),
        }
        # Before the submits: the jobs they queue keep the tracker busy with their events for a while.
        seconds = float(os.environ.get("BENCH_CONCURRENT_SECONDS", "3"))
        results["status x32"] = await concurrent(app, f"/api/workflow/status/{pid}", seconds)
        for name, (n, one, each) in runs.items():
            for _ in range(min(50 // each, n)):
                await one()
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(n):
                await one()
            calls_made = n * each
            results[name] = (
                (time.perf_counter() - started) / calls_made * 1e6,
                (time.process_time() - cpu) / calls_made * 1e6,
            )
    from benchmarks._bare import app as bare

    results["bare x32"] = await concurrent(bare, f"/status/{pid}", seconds)
    return results


def main() -> None:
    from comfyui_local import LocalComfyUI, install

    calls = int(os.environ.get("BENCH_CALLS", "3000"))
    with tempfile.TemporaryDirectory(prefix="bench-asgi-") as tmpdir:
        tmp = Path(tmpdir)
        with LocalComfyUI(install(), base_dir=tmp / "comfyui") as comfyui:
            results = asyncio.run(measure(comfyui.url, tmp, calls))
    for name, result in results.items():
        if isinstance(result, dict):
            r = result
            print(
                f"   {name:10s} {r['rps']:9,.0f} per second, {r['cpu_us']:7,.1f} us CPU per request, "
                f"latency p50 {r['p50_ms']:.2f} / p99 {r['p99_ms']:.2f} / max {r['max_ms']:.2f} ms"
            )
            continue
        us, cpu = result
        print(f"   {name:10s} {us:9,.0f} us per request in-process ({cpu:7,.1f} us CPU; {1e6 / us:,.0f}/s)")


if __name__ == "__main__":
    main()
