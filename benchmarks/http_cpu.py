"""The status read's server CPU time per request through uvicorn: the gateway beside bare Starlette.

`http` compares requests/s, which on a shared machine swing with whatever else runs (runs a minute apart
differ by 2x). What a server spends per request is steadier: this runs the same `wrk` loads (1 connection,
32 connections) against the gateway's `GET /api/workflow/status/{id}` of a finished job and against the
bare Starlette floor (`benchmarks/_bare.py`), and divides each server process's CPU time (user + system,
from /proc/<pid>/stat) over the run by the requests it answered. `BENCH_ROUNDS` (3) alternating rounds of
`BENCH_SECONDS` (4) each; the ratio gateway / bare per round, 1.0 = as cheap. A third server is the same
gateway with a bootstrap key (`API_KEYS`), read with the key in `X-API-Key` (production runs keyed): the row
"gateway+key". ComfyUI's own `/history/{id}` is read the same way (its process's CPU), and each round's
requests/s are compared too (the other's / the gateway's: 1.0 = as fast, the `http` benchmark's "cost").
Run: `.venv/bin/python -m benchmarks http_cpu` (needs `wrk`).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from pathlib import Path

from benchmarks._serve import free_port, uvicorn_process
from benchmarks.http import BENCH_KEY, LOADS, SAMPLE, _run_job, wrk

KEY_HEADER = {"X-API-Key": BENCH_KEY}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(seconds: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    """{"<server> <load>": [(req/s, CPU us per request) per round]}."""
    from comfyui_local import LocalComfyUI, install

    graph = json.loads(SAMPLE.read_text())
    graph = graph.get("prompt", graph)
    rows: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-http-cpu-") as tmpdir:
        tmp = Path(tmpdir)
        with LocalComfyUI(install(), base_dir=tmp / "comfyui") as comfyui:
            env = {
                "COMFYUI_URL": comfyui.url,
                "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'jobs.db'}",
                "CHECKPOINT_DB": str(tmp / "checkpoints.db"),
                "LOG_LEVEL": "WARNING",
                "API_KEYS": "",
            }
            pids: list[int] = []
            with (
                uvicorn_process(
                    "api.app:create_app", free_port(), env, tmp / "gw.log", "/health", factory=True, pids=pids
                ) as gateway,
                uvicorn_process(
                    "benchmarks._bare:app", free_port(), {}, tmp / "bare.log", "/status/x", pids=pids
                ) as bare,
                uvicorn_process(
                    "api.app:create_app",
                    free_port(),
                    _keyed(env),
                    tmp / "keyed.log",
                    "/health/live",
                    factory=True,
                    pids=pids,
                ) as keyed,
            ):
                pid = _run_job(gateway, graph)
                keyed_pid = _run_job(keyed, graph, KEY_HEADER)
                servers = (
                    ("gateway", f"{gateway}/api/workflow/status/{pid}", pids[0], None),
                    ("bare", f"{bare}/status/{pid}", pids[1], None),
                    ("gateway+key", f"{keyed}/api/workflow/status/{keyed_pid}", pids[2], KEY_HEADER),
                )
                assert comfyui.proc is not None
                servers += (("comfyui", f"{comfyui.url}/history/{pid}", comfyui.proc.pid, None),)
                for round_ in range(rounds):
                    turn = round_ % len(servers)  # each server first in turn: no place in the order favoured
                    for name, url, server, headers in servers[turn:] + servers[:turn]:
                        header = None if headers is None else "".join(f"{k}: {v}" for k, v in headers.items())
                        for label, threads, conns in LOADS:
                            before = cpu_seconds(server)
                            result = wrk(url, threads, conns, seconds, header=header)
                            used = cpu_seconds(server) - before
                            per_request = used / max(1.0, result.rps * seconds) * 1e6
                            rows.setdefault(f"{name} {label}", []).append((result.rps, per_request))
    return rows


def _keyed(env: dict[str, str]) -> dict[str, str]:
    """The gateway's environment with a bootstrap key and a database of its own."""
    return {**env, "API_KEYS": f"bench:{BENCH_KEY}", "DATABASE_URL": env["DATABASE_URL"] + "-keyed"}


def main() -> None:
    rows = measure(int(os.environ.get("BENCH_SECONDS", "4")), int(os.environ.get("BENCH_ROUNDS", "3")))
    for key, runs in rows.items():
        cells = ", ".join(f"{rps:,.0f} req/s {us:.1f} us" for rps, us in runs)
        print(f"   {key:18s} CPU per request: {cells}")
    for server in ("gateway", "gateway+key"):
        for label, _, _ in LOADS:
            ours = rows[f"{server} {label}"]
            ratios = [g[1] / b[1] for g, b in zip(ours, rows[f"bare {label}"], strict=True)]
            print(
                f"   status CPU per request, {server} / bare, {label}: "
                f"{', '.join(f'{r:.2f}x' for r in ratios)} (median {statistics.median(ratios):.2f}x)"
            )
            for other in ("bare", "comfyui"):  # wrk's req/s of the same round: the other's / ours
                ratios = [o[0] / g[0] for g, o in zip(ours, rows[f"{other} {label}"], strict=True)]
                print(
                    f"   status req/s, {other} / {server}, {label}: "
                    f"{', '.join(f'{r:.2f}x' for r in ratios)} (median {statistics.median(ratios):.2f}x)"
                )


if __name__ == "__main__":
    main()
