"""`comfy-gateway serve` with no COMFYUI_URL (what `make run` does on a fresh machine): the local ComfyUI
gets smoke weights, so the newcomer's first `POST /api/video/generate` completes with a real mp4; real files
under the official names are never overwritten; SIGTERM stops the local ComfyUI with the gateway.

The serve test uses the install's own base directory, like `make run` (smoke weights there are idempotent).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.serve_cmd import place_smoke_weights, real_model_files
from comfyui_local import free_port, install
from comfyui_local.smoke_weights import ALL_FILES, check_frames, decode_rgb_frames, is_smoke_weights

pytestmark = [pytest.mark.integration, pytest.mark.slow]
log = logging.getLogger(__name__)

REQUEST = {"prompt": "a sunset", "duration": 0.2, "resolution": "64x64"}


def test_serve_places_smoke_weights_but_keeps_real_files(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    place_smoke_weights(fresh, install())
    assert all(is_smoke_weights(f.path(fresh)) for f in ALL_FILES)

    kept = tmp_path / "kept"
    real = ALL_FILES[0].path(kept)
    real.parent.mkdir(parents=True)
    real.write_bytes(b"real weights, or anything that is not a smoke-weight file")
    assert real_model_files(kept) == [real]
    place_smoke_weights(kept, install())
    assert real.read_bytes().startswith(b"real weights")
    assert not any(f.path(kept).exists() for f in ALL_FILES[1:])


def test_serve_places_every_familys_smoke_set_and_skips_only_a_family_with_real_files(tmp_path: Path) -> None:
    from comfyui_local.smoke_families import FAMILIES, family_files
    from comfyui_local.smoke_loras import example_loras, smoke_lora_base

    fresh = tmp_path / "fresh"
    assert place_smoke_weights(fresh, install()) == list(FAMILIES)
    assert all(is_smoke_weights(f.path(fresh)) for f in family_files(list(FAMILIES)))
    # the LoRAs the eval sets name, built for the generator's default picture model (SDXL)
    assert all(smoke_lora_base(f.path(fresh)) == "sdxl_ckpt" for f in example_loras())

    kept = tmp_path / "kept"
    real = FAMILIES["sdxl"][0].path(kept)
    real.parent.mkdir(parents=True)
    real.write_bytes(b"real SDXL weights")
    assert place_smoke_weights(kept, install()) == [f for f in FAMILIES if f != "sdxl"]
    assert real.read_bytes() == b"real SDXL weights"
    assert all(is_smoke_weights(f.path(kept)) for f in family_files(["sd15", "esrgan", "hunyuan_video"]))


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:
    """`comfy-gateway serve` as a newcomer runs it; stopped with SIGTERM (what the test checks last)."""
    inst = install()
    if real_model_files(inst.base_dir / "models", ["hunyuan_video"]):
        pytest.skip("real HunyuanVideo weights in the local ComfyUI: a CPU run would take hours")
    port, comfy_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "COMFYUI_URL"}
    env.update(
        LOCAL_COMFYUI_PORT=str(comfy_port),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}",
        CHECKPOINT_DB=str(tmp_path / "checkpoints.db"),
        OPENAI_BASE_URL="",
        OPENAI_API_KEY="",
    )
    exe = Path(sys.executable).with_name("comfy-gateway")
    log_file = (tmp_path / "serve.log").open("wb")
    # cwd: no .env of the checkout may configure a backend
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port)], cwd=tmp_path, env=env, stdout=log_file, stderr=log_file
    )
    try:
        yield f"http://127.0.0.1:{port}", comfy_port, proc
    finally:
        if proc.poll() is None:
            proc.kill()  # the test failed before its own SIGTERM
            proc.wait()
        log_file.close()
        log.info("serve log:\n%s", (tmp_path / "serve.log").read_text()[-3000:])


def test_make_run_first_video_request_completes_with_a_real_mp4(
    served: tuple[str, int, subprocess.Popen[bytes]],
) -> None:
    url, comfy_port, proc = served
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=30.0) as http:
        while True:  # a guard against a hung start, not a performance claim
            assert proc.poll() is None, "serve exited"
            with contextlib.suppress(httpx.TransportError):
                if http.get("/health/live").status_code == 200:
                    break
            assert time.monotonic() - started < 600, "serve did not come up"
            time.sleep(0.25)
        ready = time.monotonic()
        assert http.get("/health").json()["smoke_weights"] is True
        resp = http.post("/api/video/generate", json=REQUEST)
        assert resp.status_code == 200, resp.text
        prompt_id = resp.json()["prompt_id"]
        while True:
            body = http.get(f"/api/workflow/status/{prompt_id}").json()
            if body["status"] in {"completed", "failed", "cancelled", "timeout"}:
                break
            assert time.monotonic() - ready < 600, body
            time.sleep(0.25)
        done = time.monotonic()
        assert body["status"] == "completed", body
        (video_url,) = body["output_videos"]
        mp4 = http.get(video_url)
        assert mp4.status_code == 200
    result = check_frames(decode_rgb_frames(mp4.content), expect_frames=5, expect_size=(64, 64))
    assert result.ok, result.reason
    log.info("serve ready in %.1f s; first video request completed in %.1f s", ready - started, done - ready)

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) is not None
    deadline = time.monotonic() + 20
    while listening(comfy_port) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert not listening(comfy_port), "the local ComfyUI outlived serve"
