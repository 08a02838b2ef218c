"""The local-ComfyUI installer's pure parts: paths, base directory layout, command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from comfyui_local import COMFYUI_VERSION, ComfyInstall, InstallError, default_root
from comfyui_local.installer import MODEL_FOLDERS, prepare_base_dir
from comfyui_local.process import comfy_command, comfy_env, free_port


def test_default_root_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COMFY_GATEWAY_HOME", str(tmp_path))
    assert default_root() == tmp_path / f"comfyui-{COMFYUI_VERSION}"


def test_missing_install_says_what_to_run(tmp_path: Path) -> None:
    inst = ComfyInstall(tmp_path / "nothing-here")
    assert not inst.is_installed()
    with pytest.raises(InstallError, match="comfy-gateway comfyui install"):
        inst.require()


def test_base_dir_has_every_folder_comfyui_needs(tmp_path: Path) -> None:
    base = prepare_base_dir(tmp_path / "base")
    for sub in ("custom_nodes", "input", "output", "temp", "user"):
        assert (base / sub).is_dir()
    for folder in MODEL_FOLDERS:
        assert (base / "models" / folder).is_dir()
    prepare_base_dir(base)  # idempotent


def test_command_line_keeps_everything_in_the_base_dir(tmp_path: Path) -> None:
    inst = ComfyInstall(tmp_path)
    (tmp_path / "installed.json").write_text('{"comfyui_dir": "/opt/comfy"}')
    cmd = comfy_command(inst, host="127.0.0.1", port=8190, base_dir=tmp_path / "b")
    assert cmd[1] == "/opt/comfy/main.py"
    assert "--cpu" in cmd and "--disable-all-custom-nodes" in cmd
    assert cmd[cmd.index("--port") + 1] == "8190"
    assert cmd[cmd.index("--base-directory") + 1] == str(tmp_path / "b")
    assert cmd[cmd.index("--database-url") + 1].endswith("b/user/comfyui.db")


def test_env_makes_uninitialised_weights_deterministic() -> None:
    assert comfy_env()["MALLOC_MMAP_THRESHOLD_"] == "65536"


def test_free_port_is_bindable() -> None:
    assert 1024 < free_port() < 65536
