"""Server CPU time per request through uvicorn, under the same `wrk` loads as `http`: steadier than req/s.

`http` compares requests/s, which on a shared machine swing with whatever else runs (runs a minute apart
differ by 2x). What a server spends per request is steadier: this divides each server process's CPU time
(user + system, from /proc/<pid>/stat) over a run by the requests it answered, `BENCH_ROUNDS` (3)
alternating rounds of `BENCH_SECONDS` (4) each, at 1 and at 32 connections. Two rows (`BENCH_ROWS`,
default "status,submit"):
- status: the gateway's `GET /api/workflow/status/{id}` of a finished job vs the bare Starlette floor
  (`benchmarks/_bare.py`); ratio gateway / bare. A third server is the same gateway with a bootstrap key
  (`API_KEYS`), read with the key in `X-API-Key` (production runs keyed): the row "gateway+key". ComfyUI's
  own `/history/{id}` is read the same way (its process's CPU), and each round's requests/s are compared too
  (the other's / the gateway's: 1.0 = as fast, the `http` benchmark's "cost").
- submit: the gateway's `POST /api/workflow/submit` vs a direct `POST /prompt` (the same graph and wrk Lua
  as `http`). A submit costs ComfyUI too (the job's events, its /history read), so the gateway side is the
  CPU of the gateway AND ComfyUI per submit, against ComfyUI's CPU per direct POST; each run counts from
  a drained queue to a drained queue with both servers idle again (the jobs' execution and following
  included, on both sides). Ratio (gateway + ComfyUI) / ComfyUI.
Run: `.venv/bin/python -m benchmarks http_cpu` (needs `wrk`).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks._serve import free_port, uvicorn_process
from benchmarks.http import BENCH_KEY, LOADS, SAMPLE, _run_job, drain, keyed_env, post_script, wrk

KEY_HEADER = {"X-API-Key": BENCH_KEY}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle(pids: Sequence[int], timeout: float = 60.0) -> float:
    """Wait until these processes stop spending CPU (under 20 ms in 0.5 s: the last job followed, the last
    row written); their CPU seconds then."""
    last = sum(cpu_seconds(p) for p in pids)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = sum(cpu_seconds(p) for p in pids)
        if now - last < 0.02:
            return now
        last = now
    return last


def measure(
    seconds: int, rounds: int, which: Sequence[str] = ("status", "submit")
) -> dict[str, list[tuple[float, float]]]:
    """{"<server> <load>": [(req/s, CPU us per request) per round]}."""
    from comfyui_local import LocalComfyUI, install

    graph = json.loads(SAMPLE.read_text())
    graph = graph.get("prompt", graph)
    rows: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-http-cpu-") as tmpdir:
        tmp = Path(tmpdir)
        with LocalComfyUI(install(), base_dir=tmp / "comfyui") as comfyui:
            assert comfyui.proc is not None
            comfy_pid = comfyui.proc.pid
            env = {
                "COMFYUI_URL": comfyui.url,
                "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'jobs.db'}",
                "CHECKPOINT_DB": str(tmp / "checkpoints.db"),
                "LOG_LEVEL": "WARNING",
                "MAX_PENDING_JOBS": "0",  # as in `http`: the submit runs queue thousands of jobs
                "MAX_PENDING_PER_KEY": "0",
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
                    keyed_env(env),
                    tmp / "keyed.log",
                    "/health/live",
                    factory=True,
                    pids=pids,
                ) as keyed,
            ):
                pid = _run_job(gateway, graph)
                if "status" in which:
                    keyed_pid = _run_job(keyed, graph, KEY_HEADER)
                    servers = (
                        ("gateway", f"{gateway}/api/workflow/status/{pid}", pids[0], None),
                        ("bare", f"{bare}/status/{pid}", pids[1], None),
                        ("gateway+key", f"{keyed}/api/workflow/status/{keyed_pid}", pids[2], KEY_HEADER),
                        ("comfyui", f"{comfyui.url}/history/{pid}", comfy_pid, None),
                    )
                    for round_ in range(rounds):
                        turn = round_ % len(servers)  # each server first in turn: no order favoured
                        for name, url, server, headers in servers[turn:] + servers[:turn]:
                            header = None if headers is None else _header(headers)
                            for label, threads, conns in LOADS:
                                before = cpu_seconds(server)
                                result = wrk(url, threads, conns, seconds, header=header)
                                used = cpu_seconds(server) - before
                                per_request = used / max(1.0, result.rps * seconds) * 1e6
                                rows.setdefault(f"{name} {label}", []).append((result.rps, per_request))
                if "submit" in which:
                    submits = (
                        ("direct", f"{comfyui.url}/prompt", {"prompt": graph}, (comfy_pid,)),
                        (
                            "submit",
                            f"{gateway}/api/workflow/submit",
                            {"workflow": graph},
                            (pids[0], comfy_pid),
                        ),
                    )
                    for _ in range(rounds):
                        for name, url, body, servers_ in submits:
                            script = post_script(tmp, name, body)
                            for label, threads, conns in LOADS:
                                drain(comfyui.url)
                                before = idle(servers_)
                                result = wrk(url, threads, conns, seconds, script)
                                drain(comfyui.url, timeout=600.0)
                                used = idle(servers_) - before
                                per_request = used / max(1, result.requests) * 1e6
                                rows.setdefault(f"{name} {label}", []).append((result.rps, per_request))
    return rows


def _header(headers: dict[str, str]) -> str:
    return "".join(f"{k}: {v}" for k, v in headers.items())


PAIRS = (
    ("status", "gateway", "bare"),
    ("status", "gateway+key", "bare"),
    ("status", "gateway", "comfyui"),
    ("submit", "submit", "direct"),
)


def main() -> None:
    which = tuple(os.environ.get("BENCH_ROWS", "status,submit").split(","))
    rows = measure(int(os.environ.get("BENCH_SECONDS", "4")), int(os.environ.get("BENCH_ROUNDS", "3")), which)
    for key, runs in rows.items():
        cells = ", ".join(f"{rps:,.0f} req/s {us:.1f} us" for rps, us in runs)
        print(f"   {key:18s} CPU per request: {cells}")
    for what, ours, theirs in PAIRS:
        if what not in which:
            continue
        for label, _, _ in LOADS:
            ratios = [
                g[1] / b[1] for g, b in zip(rows[f"{ours} {label}"], rows[f"{theirs} {label}"], strict=True)
            ]
            print(
                f"   {what} CPU per request, {ours} / {theirs}, {label}: "
                f"{', '.join(f'{r:.2f}x' for r in ratios)} (median {statistics.median(ratios):.2f}x)"
            )
            # wrk's req/s of the same rounds: theirs / ours (the `http` benchmark's "cost")
            speeds = [
                b[0] / g[0] for g, b in zip(rows[f"{ours} {label}"], rows[f"{theirs} {label}"], strict=True)
            ]
            print(
                f"   {what} req/s, {theirs} / {ours}, {label}: "
                f"{', '.join(f'{r:.2f}x' for r in speeds)} (median {statistics.median(speeds):.2f}x)"
            )


if __name__ == "__main__":
    main()
