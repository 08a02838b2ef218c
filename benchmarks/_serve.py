"""Servers the benchmarks start: a free loopback port, and uvicorn in a subprocess (one worker, no access
log), waited for until it answers; `uvicorn_process` for synchronous benchmarks, `uvicorn_server` for those
whose event loop must keep serving (a fake ComfyUI in the same process) while the gateway starts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    from comfyui_local import free_port as comfy_free_port

    return comfy_free_port("127.0.0.1")


def _start(target: str, port: int, env: dict[str, str], log: Path, factory: bool) -> subprocess.Popen[bytes]:
    # BENCH_PROFILE=FILE: the server runs under cProfile, its stats written to FILE when it stops.
    profile = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []
    cmd = [sys.executable, *profile, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--no-access-log", "--log-level", "warning"] + (["--factory"] if factory else [])
    with open(log, "ab") as out:
        return subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=120 if os.environ.get("BENCH_PROFILE") else 15)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextmanager
def uvicorn_process(
    target: str,
    port: int,
    env: dict[str, str],
    log: Path,
    ready: str,
    *,
    factory: bool = False,
    pids: list[int] | None = None,
) -> Iterator[str]:
    """A uvicorn server on loopback, up (`ready` answers below 500) until the block ends; its base URL.
    `pids`: the server's process id is appended (to read its CPU time)."""
    proc = _start(target, port, env, log, factory)
    if pids is not None:
        pids.append(proc.pid)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120.0
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: the process exited ({proc.returncode}); see {log}")
            try:
                if httpx.get(url + ready, timeout=2.0).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up; see {log}")
            time.sleep(0.2)
        yield url
    finally:
        _stop(proc)


@asynccontextmanager
async def uvicorn_server(
    target: str, port: int, env: dict[str, str], log: Path, ready: str
) -> AsyncIterator[str]:
    """`uvicorn_process` (an app factory) waited for without blocking this event loop."""
    proc = _start(target, port, env, log, factory=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120.0
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{url}: the process exited ({proc.returncode}); see {log}")
                try:
                    if (await http.get(url + ready)).status_code < 500:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not come up; see {log}")
                await asyncio.sleep(0.2)
        yield url
    finally:
        _stop(proc)
