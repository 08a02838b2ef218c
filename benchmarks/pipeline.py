"""Planner-strategy generation: latency (p50/p95 per request, the share of time in each agent) and requests
per second, one at a time and with `BENCH_CONCURRENCY` (16) in flight on one event loop (the gateway's one
worker; the planner is CPU-bound, so concurrency shows the cost of interleaving, not a gain).

Run: `.venv/bin/python -m benchmarks pipeline` (target: p95 < 50 ms with the catalog loaded; `BENCH_SECONDS`
(3) per throughput run). One Generator serves every request, as in the gateway (its graph is compiled once;
each run brings its own context).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import time
from collections import defaultdict

from node_catalog import Catalog
from pipeline import GenerationRequest, Generator

PROMPTS = [
    "a cat surfing, 3 seconds, 720p",
    "five seconds of waves crashing at sunset, vertical, 30fps, seed 42",
    "120 frames of a drone shot over a forest in 16:9 1080p, cinematic",
    "two and a half seconds of rain on glass, 480p",
    "a knight riding through fog, seed 42, 30 steps",
    "animate photo.png into a 4 second clip",
    "bring cat.png to life, the cat yawns, vertical",
    "restyle clip.mp4 as an anime",
    "make a 2-second test video of solid red frames",
    "a blue test video, 3 seconds at 10 fps",
    "an SDXL image of a castle on a hill, square, 30 steps, cfg 6.5",
    "a flux image of a neon sign that says open, guidance 3",
    "a picture of a mountain lake using sd1.5",
    "restyle this photo room.png as an oil painting",
    "upscale cat.png by 4x",
    "a samurai duel in the rain, cinematic, 4 seconds",
    # composed (issue 11): chains of operations
    "make a fox in the snow, then upscale it 3x",
    "erase the lamp post from street.png, then upscale it 2x",
    "widen photo.png by 200 pixels on the right",
    "paint a harbour in the style of ref.png",
    "make a lighthouse picture and animate it into a 3-second clip",
    "a robot following the edges of shape.png, then animate it",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(rounds: int = 10) -> tuple[list[float], dict[str, float]]:
    generator = Generator(Catalog.bundled())
    for prompt in PROMPTS:  # warm-up: first-use caches (regexes, catalog indexes)
        await generator.generate(GenerationRequest(prompt=prompt))
    totals: list[float] = []
    per_agent: dict[str, float] = defaultdict(float)
    for _ in range(rounds):
        for prompt in PROMPTS:
            started = time.perf_counter()
            result = await generator.generate(GenerationRequest(prompt=prompt))
            totals.append((time.perf_counter() - started) * 1000)
            if not (result.validation or {}).get("ok"):
                raise RuntimeError(f"{prompt!r} gave no valid workflow: {result.error}")
            for step in result.steps:
                per_agent[step["agent"]] += step["ms"]
    return totals, dict(per_agent)


async def throughput(seconds: float, concurrency: int) -> float:
    """Requests per second over `seconds`, `concurrency` generations in flight (prompts in turn)."""
    generator = Generator(Catalog.bundled())
    prompts = itertools.cycle(PROMPTS)
    for prompt in PROMPTS:
        await generator.generate(GenerationRequest(prompt=prompt))
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await generator.generate(GenerationRequest(prompt=next(prompts)))
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


def main() -> None:
    totals, per_agent = asyncio.run(measure())
    seconds = float(os.environ.get("BENCH_SECONDS", "3"))
    concurrency = int(os.environ.get("BENCH_CONCURRENCY", "16"))
    sequential = asyncio.run(throughput(seconds, 1))
    concurrent = asyncio.run(throughput(seconds, concurrency))
    agents_ms = sum(per_agent.values())
    print(f"planner generation, {len(totals)} requests ({len(PROMPTS)} prompts), bundled catalog")
    print(f"{'metric':<28}{'value':>10}")
    print(f"{'p50 ms':<28}{statistics.median(totals):>10.2f}")
    print(f"{'p95 ms':<28}{percentile(totals, 0.95):>10.2f}")
    print(f"{'max ms':<28}{max(totals):>10.2f}")
    print(f"{'target p95 < 50 ms':<28}{'met' if percentile(totals, 0.95) < 50 else 'MISSED':>10}")
    print(f"{'req/s, 1 in flight':<28}{sequential:>10.1f}")
    print(f"{f'req/s, {concurrency} in flight':<28}{concurrent:>10.1f}")
    graph_overhead = sum(totals) - agents_ms
    for agent, ms in sorted(per_agent.items(), key=lambda kv: -kv[1]):
        print(f"{'share ' + agent:<28}{100 * ms / sum(totals):>9.1f}%")
    print(f"{'share langgraph overhead':<28}{100 * graph_overhead / sum(totals):>9.1f}%")


if __name__ == "__main__":
    main()
