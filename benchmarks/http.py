"""The gateway's HTTP cost, side by side with ComfyUI's own endpoints and a bare Starlette app, under `wrk`.

Starts on loopback, in one run: the local CPU ComfyUI (`comfyui_local`), the gateway (uvicorn subprocess,
SQLite in a temp dir, no keys) and the floor (`benchmarks/_bare.py`, uvicorn too). Submits one model-free job
(sample 03) and measures, at 1 connection (`wrk -t1 -c1`) and 32 (`wrk -t2 -c32`):
- a finished job's status: gateway `/api/workflow/status/{id}` vs ComfyUI `/history/{id}` vs bare Starlette;
- the queue: gateway `/api/queue` vs ComfyUI `/queue`;
- a submit: gateway `POST /api/workflow/submit` vs a direct `POST /prompt` (same graph; ComfyUI caches it).
Prints requests/s and ratios and rewrites the results block of `benchmarks/README.md`.
Run: `.venv/bin/python -m benchmarks http` (needs `wrk`: `apt-get install -y wrk`). `BENCH_SECONDS` (5)
sets each wrk run's length; `BENCH_NO_README=1` leaves the README alone.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks._serve import free_port, uvicorn_process

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "fixtures" / "comfyui" / "samples" / "03_createvideo_savevideo_mp4.prompt.json"
README = Path(__file__).with_name("README.md")
BEGIN, END = "<!-- http:begin -->", "<!-- http:end -->"
BENCH_KEY = "bench-key-0123456789abcdef"
STATUS = "status: gateway /api/workflow/status/{id}"
KEYED_STATUS = "status: gateway, bootstrap key (API_KEYS)"
LOADS = (("1 conn", 1, 1), ("32 conns", 2, 32))  # (label, wrk threads, connections)


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers and socket errors
    requests: int = 0  # answered in the run


def _latency_ms(text: str) -> float:
    value = float(re.sub(r"[a-z]+$", "", text))
    unit = re.sub(r"^[0-9.]+", "", text)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(
    url: str, threads: int, conns: int, seconds: int, script: Path | None = None, header: str | None = None
) -> Result:
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", url]
    if header is not None:
        cmd[1:1] = ["-H", header]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _latency_ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _latency_ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket:
        errors += sum(int(n) for n in socket.groups())
    done = re.search(r"(\d+) requests in", out)
    return Result(rps, p50, p99, errors, int(done.group(1)) if done else 0)


def drain(comfy: str, timeout: float = 120.0) -> None:
    """Wait for ComfyUI's queue to empty, so one measurement's leftovers do not load the next."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        q = httpx.get(f"{comfy}/queue", timeout=10.0).json()
        if not q["queue_running"] and not q["queue_pending"]:
            return
        time.sleep(0.5)


def post_script(tmp: Path, name: str, body: dict[str, Any]) -> Path:
    payload = tmp / f"{name}.json"
    payload.write_text(json.dumps(body))
    script = tmp / f"{name}.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{payload}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
    )
    return script


def measure(seconds: int) -> tuple[dict[str, dict[str, Result]], dict[str, str]]:
    from comfyui_local import LocalComfyUI, install

    graph = json.loads(SAMPLE.read_text())
    graph = graph.get("prompt", graph)
    rows: dict[str, dict[str, Result]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmpdir:
        tmp = Path(tmpdir)
        with LocalComfyUI(install(), base_dir=tmp / "comfyui") as comfyui:
            comfy = comfyui.url
            env = {
                "COMFYUI_URL": comfy,
                "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'jobs.db'}",
                "CHECKPOINT_DB": str(tmp / "checkpoints.db"),
                "LOG_LEVEL": "WARNING",
                "MAX_PENDING_JOBS": "0",  # the submit run queues thousands of jobs: measure, do not refuse
                "MAX_PENDING_PER_KEY": "0",
                "API_KEYS": "",
            }
            gw_port, bare_port = free_port(), free_port()
            # The same gateway with a bootstrap key (API_KEYS): the keyed path (each request's key hashed and
            # checked in memory; the database's keys are cached too, api/auth/keys.py), read beside the rest.
            with (
                uvicorn_process(
                    "api.app:create_app", gw_port, env, tmp / "gateway.log", "/health", factory=True
                ) as gateway,
                uvicorn_process("benchmarks._bare:app", bare_port, {}, tmp / "bare.log", "/status/x") as bare,
                uvicorn_process(
                    "api.app:create_app",
                    free_port(),
                    keyed_env(env),
                    tmp / "keyed.log",
                    "/health/live",
                    factory=True,
                ) as keyed,
            ):
                pid = _run_job(gateway, graph)
                keyed_pid = _run_job(keyed, graph, {"X-API-Key": BENCH_KEY})
                targets = {
                    STATUS: (f"{gateway}/api/workflow/status/{pid}", None),
                    KEYED_STATUS: (f"{keyed}/api/workflow/status/{keyed_pid}", f"X-API-Key: {BENCH_KEY}"),
                    "status: ComfyUI /history/{id}": (f"{comfy}/history/{pid}", None),
                    "status: bare Starlette": (f"{bare}/status/{pid}", None),
                    "queue: gateway /api/queue": (f"{gateway}/api/queue", None),
                    "queue: ComfyUI /queue": (f"{comfy}/queue", None),
                }
                for name, (url, header) in targets.items():
                    rows[name] = {label: wrk(url, t, c, seconds, header=header) for label, t, c in LOADS}
                    _report_row(name, rows[name])
                submits = {
                    "submit: ComfyUI POST /prompt": (f"{comfy}/prompt", {"prompt": graph}),
                    "submit: gateway POST /api/workflow/submit": (
                        f"{gateway}/api/workflow/submit",
                        {"workflow": graph},
                    ),
                }
                for name, (url, body) in submits.items():
                    script = post_script(tmp, name.split(":")[0] + str(len(rows)), body)
                    rows[name] = {}
                    for label, t, c in LOADS:
                        drain(comfy)
                        rows[name][label] = wrk(url, t, c, seconds, script)
                    _report_row(name, rows[name])
                drain(comfy)
    machine = {
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[0],
        "seconds": str(seconds),
    }
    return rows, machine


def keyed_env(env: dict[str, str]) -> dict[str, str]:
    """The gateway's environment with a bootstrap key and a database of its own."""
    return {**env, "API_KEYS": f"bench:{BENCH_KEY}", "DATABASE_URL": env["DATABASE_URL"] + "-keyed"}


def _run_job(gateway: str, graph: dict[str, Any], headers: dict[str, str] | None = None) -> str:
    """Submit the sample job and wait for it to complete; its prompt id."""
    resp = httpx.post(
        f"{gateway}/api/workflow/submit", json={"workflow": graph}, headers=headers, timeout=60.0
    )
    resp.raise_for_status()
    pid: str = resp.json()["prompt_id"]
    status: dict[str, Any] = {}
    for _ in range(600):
        status = httpx.get(f"{gateway}/api/workflow/status/{pid}", headers=headers, timeout=10.0).json()
        if status.get("status") in ("completed", "failed", "cancelled", "timeout"):
            break
        time.sleep(0.1)
    if status.get("status") != "completed":
        raise RuntimeError(f"the sample job did not complete: {status}")
    return pid


def _report_row(name: str, row: dict[str, Result]) -> None:
    cells = "  ".join(
        f"{label}: {r.rps:9,.0f} req/s (p99 {r.p99_ms:6.1f} ms, errors {r.errors})"
        for label, r in row.items()
    )
    print(f"   {name:45s} {cells}", flush=True)


RATIOS = (
    ("status vs bare Starlette", "status: gateway /api/workflow/status/{id}", "status: bare Starlette"),
    ("status (bootstrap key) vs bare Starlette", KEYED_STATUS, "status: bare Starlette"),
    ("status (bootstrap key) vs ComfyUI /history/{id}", KEYED_STATUS, "status: ComfyUI /history/{id}"),
    (
        "status vs ComfyUI /history/{id}",
        "status: gateway /api/workflow/status/{id}",
        "status: ComfyUI /history/{id}",
    ),
    ("queue vs ComfyUI /queue", "queue: gateway /api/queue", "queue: ComfyUI /queue"),
    (
        "submit vs direct POST /prompt",
        "submit: gateway POST /api/workflow/submit",
        "submit: ComfyUI POST /prompt",
    ),
)


def ratios(rows: dict[str, dict[str, Result]]) -> list[tuple[str, str, float]]:
    """(what, load, cost): how many times the other's requests/s the gateway's are below it (1.0: equal)."""
    out = []
    for what, ours, theirs in RATIOS:
        if ours in rows and theirs in rows:
            for label, _, _ in LOADS:
                out.append((what, label, rows[theirs][label].rps / rows[ours][label].rps))
    return out


def markdown(rows: dict[str, dict[str, Result]], machine: dict[str, str]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        BEGIN,
        f"Measured {when}; {machine['system']}, {machine['cpus']} CPUs, Python {machine['python']}, "
        f"{machine['wrk']}, {machine['seconds']} s per run; everything on the same machine and loopback.",
        "",
        "| endpoint | " + " | ".join(f"{label} req/s (p50 / p99 ms)" for label, _, _ in LOADS) + " |",
        "|---|" + "---|" * len(LOADS),
    ]
    for name, row in rows.items():
        cells = [
            f"{r.rps:,.0f} ({r.p50_ms:.2f} / {r.p99_ms:.2f})" + (f", {r.errors} errors" if r.errors else "")
            for r in row.values()
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| cost (other's req/s / gateway's req/s; 1.0 = as fast) | "
        + " | ".join(label for label, _, _ in LOADS)
        + " |",
    ]
    lines.append("|---|" + "---|" * len(LOADS))
    by_what: dict[str, list[str]] = {}
    for what, _, cost in ratios(rows):
        by_what.setdefault(what, []).append(f"{cost:.2f}x")
    lines += [f"| {what} | " + " | ".join(cells) + " |" for what, cells in by_what.items()]
    lines.append(END)
    return "\n".join(lines)


def write_readme(block: str) -> None:
    text = README.read_text() if README.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    README.write_text(text)


def main() -> None:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    rows, machine = measure(int(os.environ.get("BENCH_SECONDS", "5")))
    for what, label, cost in ratios(rows):
        print(f"   {what:34s} {label:9s} gateway costs {cost:.2f}x")
    if not os.environ.get("BENCH_NO_README"):
        write_readme(markdown(rows, machine))
        print(f"   results written to {README}")
