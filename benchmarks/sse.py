"""1,000 Server-Sent Events subscribers on one job: how long a progress event takes from ComfyUI to each.

One run: the gateway (uvicorn subprocess, one worker, bundled catalog, SQLite in a temp dir) in front of a
fake ComfyUI (`benchmarks/_fake_comfyui.py`, served in this process) that sends the job's events when told.
A job is submitted and started; `BENCH_SSE_SUBSCRIBERS` (1000) clients open
`GET /api/workflow/{id}/events` on raw sockets (asyncio protocols that only timestamp what arrives; parsing
happens after the run, so the client adds as little as it can); then `BENCH_SSE_EVENTS` (30) progress events
are sent `BENCH_SSE_INTERVAL` (0.1) s apart. The delivery latency of each event to each subscriber is the
time its SSE message arrived minus the time the fake ComfyUI handed the event to the gateway's WebSocket
(one clock: both ends are in this process). Target: p99 < 50 ms. Run: `.venv/bin/python -m benchmarks sse`.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from benchmarks._fake_comfyui import FakeComfyUI
from benchmarks._serve import free_port, uvicorn_server

GRAPH = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bench"}},
}
STEPS = 1000  # the fake node's `max`: event k sends value 20k, which the gateway reports as progress k %
PROGRESS = re.compile(rb"event: progress\r?\ndata: (.*?)\r?\n\r?\n", re.S)
PERCENT = re.compile(rb'"progress":\s*([0-9.]+)')


class Subscriber(asyncio.Protocol):
    """Timestamps every chunk as it arrives; nothing else while the benchmark runs."""

    def __init__(self) -> None:
        self.chunks: list[tuple[float, bytes]] = []
        self.first = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.chunks.append((time.perf_counter(), data))
        if not self.first.done() and b"\n\n" in data:
            self.first.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def arrivals(self) -> dict[int, float]:
        """{progress %: arrival time} of the progress messages this subscriber got."""
        out: dict[int, float] = {}
        buffer = b""
        for at, data in self.chunks:
            buffer += data
            for match in PROGRESS.finditer(buffer):
                percent = PERCENT.search(match.group(1))
                if percent is not None:
                    out.setdefault(round(float(percent.group(1))), at)
            tail = buffer.rfind(b"\n\n")
            buffer = buffer[tail + 2 :] if tail >= 0 else buffer
        return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(subscribers: int, events: int, interval: float) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, subscribers * 2 + 256)), hard))
    fake = FakeComfyUI()
    comfy_port, gw_port = free_port(), free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app, host="127.0.0.1", port=comfy_port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.05)
    with tempfile.TemporaryDirectory(prefix="bench-sse-") as tmpdir:
        tmp = Path(tmpdir)
        env = {
            "COMFYUI_URL": f"http://127.0.0.1:{comfy_port}",
            "CATALOG_SOURCE": "bundled",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'jobs.db'}",
            "CHECKPOINT_DB": str(tmp / "checkpoints.db"),
            "LOG_LEVEL": "WARNING",
            "API_KEYS": "",
        }
        async with uvicorn_server("api.app:create_app", gw_port, env, tmp / "gateway.log", "/health/live"):
            base = f"http://127.0.0.1:{gw_port}"
            async with httpx.AsyncClient(base_url=base, timeout=60) as http:
                resp = await http.post("/api/workflow/submit", json={"workflow": GRAPH})
                resp.raise_for_status()
                pid = resp.json()["prompt_id"]
            await fake.emit("execution_start", prompt_id=pid, timestamp=0)
            await fake.emit("executing", prompt_id=pid, node="1", display_node="1")
            loop = asyncio.get_running_loop()
            request = (
                f"GET /api/workflow/{pid}/events HTTP/1.1\r\nHost: 127.0.0.1:{gw_port}\r\n"
                "Accept: text/event-stream\r\n\r\n"
            ).encode()
            subs: list[Subscriber] = []
            for _ in range(subscribers):
                transport, sub = await loop.create_connection(Subscriber, "127.0.0.1", gw_port)
                transport.write(request)
                subs.append(sub)
            await asyncio.wait_for(asyncio.gather(*(s.first for s in subs)), timeout=120)
            await asyncio.sleep(0.5)
            sent: dict[int, float] = {}
            started = time.perf_counter()
            for k in range(1, events + 1):
                sent[k] = await fake.emit("progress", prompt_id=pid, node="1", value=20 * k, max=STEPS)
                await asyncio.sleep(interval)
            await asyncio.sleep(1.0)
            fake.finish(pid)
            await fake.emit("executing", prompt_id=pid, node=None)
            await asyncio.wait_for(asyncio.gather(*(s.closed for s in subs)), timeout=60)
            elapsed = time.perf_counter() - started
    server.should_exit = True
    await serving
    latencies: list[float] = []
    missing = 0
    for sub in subs:
        got = sub.arrivals()
        for k, at in sent.items():
            if k in got:
                latencies.append((got[k] - at) * 1000)
            else:
                missing += 1
    return {
        "subscribers": subscribers,
        "events": events,
        "deliveries": len(latencies),
        "missing": missing,
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "seconds": elapsed,
    }


def main() -> None:
    result = asyncio.run(
        measure(
            int(os.environ.get("BENCH_SSE_SUBSCRIBERS", "1000")),
            int(os.environ.get("BENCH_SSE_EVENTS", "30")),
            float(os.environ.get("BENCH_SSE_INTERVAL", "0.1")),
        )
    )
    met = result["p99_ms"] < 50 and not result["missing"]
    print(
        f"   {result['subscribers']} SSE subscribers x {result['events']} progress events: "
        f"{result['deliveries']} deliveries, {result['missing']} missing; latency "
        f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms "
        f"(target p99 < 50 ms: {'met' if met else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
