"""ComfyUI client event path: frame parsing, and frames through the shared socket to a subscriber.

Offline (no ComfyUI): parses the 254 real frames of capture 11 (progress-heavy), and pushes 50,000 frames
through EventHub + EventStream from an in-memory connection. With `COMFYUI_BENCH_URL` set it also measures,
against that ComfyUI, submit -> `executing(None)` latency of model-free sample 01 (p50, p95; 20 runs).
Run: `.venv/bin/python -m benchmarks client_events`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from comfyui_client import ComfyClient, ExecutingEvent, parse_event

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "comfyui" / "samples"


def _frames(capture: str) -> list[str]:
    data = json.loads((SAMPLES / capture).read_text())
    return [json.dumps({"type": m["type"], "data": m["data"]}) for m in data["ws"] if "type" in m]


def bench_parse() -> None:
    frames = _frames("11_pixel_space_vae_tiled.result.json")
    rounds = 200
    start = time.perf_counter()
    for _ in range(rounds):
        for frame in frames:
            parse_event(frame)
    elapsed = time.perf_counter() - start
    count = rounds * len(frames)
    print(f"   parse_event: {count / elapsed:,.0f} frames/s ({elapsed / count * 1e6:.1f} us/frame)")


class _MemoryWs:
    def __init__(self, frames: list[str]) -> None:
        self._frames = iter(frames)
        self._idle = asyncio.Event()

    async def recv(self) -> str | bytes:
        frame = next(self._frames, None)
        if frame is None:
            await self._idle.wait()  # no more frames: stay open like a quiet socket
            raise ConnectionResetError
        return frame

    async def close(self) -> None:
        self._idle.set()


async def _bench_stream() -> None:
    pid = "00000000-0000-4000-8000-000000000000"
    progress = json.dumps({"type": "progress", "data": {"value": 1, "max": 9, "prompt_id": pid, "node": "4"}})
    hello = json.dumps({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}}})
    done = json.dumps({"type": "executing", "data": {"node": None, "prompt_id": pid}})
    count = 50_000
    frames = [hello, *([progress] * count), done]

    async def connect(url: str) -> _MemoryWs:
        return _MemoryWs(frames)

    transport = httpx.MockTransport(lambda r: httpx.Response(404))
    async with ComfyClient("http://bench.invalid", transport=transport, ws_connect=connect) as client:
        start = time.perf_counter()
        async with client.events(max_backlog=count * 2) as stream:
            async for event in stream:
                if isinstance(event, ExecutingEvent) and event.is_finished:
                    break
        elapsed = time.perf_counter() - start
    print(f"   socket -> EventStream: {count / elapsed:,.0f} events/s ({elapsed / count * 1e6:.1f} us/event)")


async def _bench_live(url: str, runs: int = 20) -> None:
    graph: dict[str, Any] = json.loads((SAMPLES / "01_emptyimage_saveimage.prompt.json").read_text())
    latencies: list[float] = []
    async with ComfyClient(url) as client, client.events() as stream:
        await stream.wait_connected(10)
        for _ in range(runs):
            graph["1"]["inputs"]["color"] = random.randrange(0xFFFFFF)  # never served from cache
            start = time.perf_counter()
            job = await client.submit(graph)
            async for event in stream:
                if (
                    isinstance(event, ExecutingEvent)
                    and event.is_finished
                    and event.prompt_id == job.prompt_id
                ):
                    break
            latencies.append(time.perf_counter() - start)
    latencies.sort()
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    print(
        f"   live submit -> finished (sample 01): p50 {statistics.median(latencies) * 1e3:.1f} ms, "
        f"p95 {p95 * 1e3:.1f} ms over {runs} runs"
    )


def main() -> None:
    bench_parse()
    asyncio.run(_bench_stream())
    url = os.environ.get("COMFYUI_BENCH_URL")
    if url:
        asyncio.run(_bench_live(url))
    else:
        print("   live latency skipped (set COMFYUI_BENCH_URL to a running ComfyUI)")


if __name__ == "__main__":
    main()
