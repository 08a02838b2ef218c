"""Idempotence, the worker seam and file placement, without torch: ComfyUI's python is a fake script."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from test_smoke_header import write_st

from comfyui_local import ComfyInstall, SmokeWeightsError, ensure_smoke_weights
from comfyui_local import smoke_weights as sw
from comfyui_local.smoke_weights import (
    ALL_FILES,
    MARKER,
    T2V_FILES,
    WRITER_REVISION,
    build_smoke_weights,
    install_smoke_weights,
    is_smoke_weights,
)


def fake_install(root: Path, script: str) -> ComfyInstall:
    """An install whose venv python is a shell script (it receives the job on stdin)."""
    comfy_dir = root / "comfyui"
    comfy_dir.mkdir(parents=True)
    (comfy_dir / "main.py").write_text("")
    python = root / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n" + script)
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    (root / "installed.json").write_text(json.dumps({"comfyui_dir": str(comfy_dir)}))
    return ComfyInstall(root)


def fill(
    models: Path,
    files: tuple[sw.SmokeFile, ...],
    *,
    kind: str = "stub",
    seed: int = 0,
    writer: str | None = WRITER_REVISION,
) -> None:
    for f in files:
        path = f.path(models)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {MARKER: "1", "kind": kind, "seed": str(seed), "role": f.role, "note": "x"}
        write_st(path, meta if writer is None else {**meta, "writer": writer})


def ok_report(roles: list[str]) -> dict[str, Any]:
    return {"files": {}, "check": {r: {"ok": True} for r in roles}}


@pytest.fixture()
def jobs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record worker jobs instead of running ComfyUI's python; every check passes."""
    seen: list[dict[str, Any]] = []

    def run(inst: ComfyInstall, job: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        seen.append(job)
        fill(
            Path(next(iter(job["files"].values()))).parents[1], ALL_FILES, kind=job["kind"], seed=job["seed"]
        )
        return ok_report(list(job["files"]))

    monkeypatch.setattr(sw, "_run_worker", run)
    return seen


def test_complete_set_is_left_alone(tmp_path: Path, jobs: list[dict[str, Any]]) -> None:
    inst = fake_install(tmp_path / "inst", "exit 99\n")
    fill(tmp_path / "models", ALL_FILES)
    paths = ensure_smoke_weights(tmp_path / "models", inst=inst)
    assert jobs == []
    assert paths == [f.path((tmp_path / "models").resolve()) for f in ALL_FILES]


def test_only_missing_or_different_files_are_written(tmp_path: Path, jobs: list[dict[str, Any]]) -> None:
    inst = fake_install(tmp_path / "inst", "exit 99\n")
    models = tmp_path / "models"
    fill(models, ALL_FILES)
    (models / "vae" / "hunyuan_video_vae_bf16.safetensors").write_bytes(b"")  # someone's placeholder
    fill(models, (T2V_FILES[2],), seed=7)  # clip_l of another seed
    report = build_smoke_weights(models, inst=inst)
    assert report.generated == ["vae", "clip_l"]
    assert set(report.skipped) == {"dit_t2v", "llama", "dit_i2v", "clip_vision"}
    (job,) = jobs
    # The worker gets every file (it verifies whole loaders) and is told which ones to keep.
    assert set(job["files"]) == {f.role for f in ALL_FILES}
    assert set(job["existing"]) == set(report.skipped)
    assert job["comfyui_dir"] == str(tmp_path / "inst" / "comfyui")
    assert (job["kind"], job["seed"], job["check"]) == ("stub", 0, True)


def test_files_of_an_older_writer_are_written_again(tmp_path: Path, jobs: list[dict[str, Any]]) -> None:
    """Same names, shapes, kind and seed, but values from a writer that had a bug (revision 1 wrote a CLIP
    vision tower's layer norms from uninitialised memory): rewritten, and the job carries the revision."""
    inst = fake_install(tmp_path / "inst", "exit 99\n")
    models = tmp_path / "models"
    fill(models, ALL_FILES)
    fill(models, (ALL_FILES[-1],), writer=None)  # revision 1 wrote no "writer" field
    report = build_smoke_weights(models, inst=inst)
    assert report.generated == [ALL_FILES[-1].role] == ["clip_vision"]
    assert jobs[-1]["writer"] == WRITER_REVISION


def test_kind_seed_force_and_t2v_only(tmp_path: Path, jobs: list[dict[str, Any]]) -> None:
    inst = fake_install(tmp_path / "inst", "exit 99\n")
    models = tmp_path / "models"
    fill(models, ALL_FILES)
    assert build_smoke_weights(models, inst=inst, kind="tiny").generated == [f.role for f in ALL_FILES]
    assert build_smoke_weights(models, inst=inst, kind="tiny", force=True).skipped == []
    report = build_smoke_weights(models, inst=inst, kind="stub", seed=3, i2v=False)
    assert set(jobs[-1]["files"]) == {f.role for f in T2V_FILES}
    assert len(report.paths) == 4


@pytest.mark.parametrize(("kind", "seed"), [("huge", 0), ("stub", -1)])
def test_bad_arguments(tmp_path: Path, kind: Any, seed: int) -> None:
    with pytest.raises(SmokeWeightsError):
        build_smoke_weights(tmp_path, inst=ComfyInstall(tmp_path), kind=kind, seed=seed)


def test_worker_output_is_parsed(tmp_path: Path) -> None:
    report = {"files": {}, "generate_seconds": 1.0, "check": {"vae": {"ok": True}}}
    inst = fake_install(tmp_path / "inst", f"cat >/dev/null\necho noise\necho '{json.dumps(report)}'\n")
    got = build_smoke_weights(tmp_path / "models", inst=inst)
    assert got.worker == report
    assert got.generated == [f.role for f in ALL_FILES]


def test_worker_job_arrives_on_stdin(tmp_path: Path) -> None:
    dump = tmp_path / "job.json"
    inst = fake_install(tmp_path / "inst", f"cat > {dump}\necho '{{\"check\": {{}}}}'\n")
    build_smoke_weights(tmp_path / "models", inst=inst, seed=5, i2v=False)
    job = json.loads(dump.read_text())
    assert job["seed"] == 5
    assert job["files"]["vae"].endswith("vae/hunyuan_video_vae_bf16.safetensors")


@pytest.mark.parametrize(
    ("script", "needle"),
    [
        ('echo \'{"error": "WorkerError: boom"}\'\nexit 1\n', "WorkerError: boom"),
        ("echo oops >&2\nexit 3\n", "exit code 3"),
        ("echo not-json\n", "exit code 0"),
        (
            'echo \'{"check": {"vae": {"ok": false, "problem": "unexpected keys [x]"}}}\'\n',
            "vae: unexpected keys [x]",
        ),
    ],
)
def test_worker_failures_become_smoke_weights_errors(tmp_path: Path, script: str, needle: str) -> None:
    inst = fake_install(tmp_path / "inst", "cat >/dev/null\n" + script)
    with pytest.raises(SmokeWeightsError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        build_smoke_weights(tmp_path / "models", inst=inst)


def test_worker_timeout(tmp_path: Path) -> None:
    inst = fake_install(tmp_path / "inst", "sleep 5\n")
    with pytest.raises(SmokeWeightsError, match="longer than"):
        build_smoke_weights(tmp_path / "models", inst=inst, timeout=0.2)


def test_missing_install_is_reported(tmp_path: Path) -> None:
    from comfyui_local import InstallError

    with pytest.raises(InstallError):
        build_smoke_weights(tmp_path / "models", inst=ComfyInstall(tmp_path / "nowhere"))


def test_install_copies_over_placeholders_and_links(tmp_path: Path) -> None:
    src, dst = tmp_path / "cache", tmp_path / "comfy" / "models"
    fill(src, T2V_FILES)
    paths = [f.path(src) for f in T2V_FILES]
    vae_dst = T2V_FILES[1].path(dst)
    vae_dst.parent.mkdir(parents=True)
    vae_dst.write_bytes(b"")  # an empty placeholder from another test
    clip_dst = T2V_FILES[2].path(dst)
    clip_dst.parent.mkdir(parents=True)
    victim = tmp_path / "victim.safetensors"
    victim.write_bytes(b"keep me")
    clip_dst.symlink_to(victim)

    placed = install_smoke_weights(paths, src, dst)
    assert placed == [f.path(dst) for f in T2V_FILES]
    assert all(is_smoke_weights(p) and not p.is_symlink() for p in placed)
    assert victim.read_bytes() == b"keep me"
    # A second install leaves identical files alone (same inode) and overwriting one later never
    # reaches the cache, since the files are copies.
    inode = os.stat(vae_dst).st_ino
    install_smoke_weights(paths, src, dst)
    assert os.stat(vae_dst).st_ino == inode
    vae_dst.write_bytes(b"")
    assert is_smoke_weights(T2V_FILES[1].path(src))
