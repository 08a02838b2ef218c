"""`comfy-gateway comfyui start` runs ComfyUI in the foreground and SIGTERM stops ComfyUI too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from comfyui_local import free_port, install
from comfyui_local.process import wait_ready

pytestmark = pytest.mark.integration


def _children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    )
    return [int(p) for p in out.stdout.split()]


def test_start_runs_until_sigterm_and_stops_comfyui(tmp_path: Path) -> None:
    install()
    port = free_port()
    cli = Path(sys.executable).parent / "comfy-gateway"
    proc = subprocess.Popen(
        [str(cli), "comfyui", "start", "--port", str(port), "--base-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", 120)
        children = _children(proc.pid)
        assert children, "ComfyUI should run as a child of the CLI"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) is not None
        for child in children:
            with pytest.raises(ProcessLookupError):
                os.kill(child, 0)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_start_without_install_is_a_clear_error(tmp_path: Path) -> None:
    cli = Path(sys.executable).parent / "comfy-gateway"
    res = subprocess.run(
        [str(cli), "comfyui", "start", "--dir", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 1
    assert "comfy-gateway comfyui install" in res.stderr
