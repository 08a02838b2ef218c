"""HunyuanVideo on smoke weights, measured on a fresh local ComfyUI.

    .venv/bin/python benchmarks/smoke_weights.py [--kind stub|tiny] [--runs 2]

Prints: generation time of the weights (in a temporary folder, so always generated), the first run of the
official text-to-video graph at 64x64, 5 frames, 2 steps (includes the 8B Llama text encoding), runs with the
same text and another seed (ComfyUI reuses the encoded text), ComfyUI's peak RSS (VmHWM) and the frame check.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from comfyui_local import LocalComfyUI, install
from comfyui_local.smoke_weights import (
    T2V_FILES,
    build_smoke_weights,
    check_frames,
    decode_rgb_frames,
    install_smoke_weights,
)

SAMPLE = (
    Path(__file__).parents[1]
    / "tests"
    / "fixtures"
    / "comfyui"
    / "samples"
    / "09_hunyuan_t2v_official.prompt.json"
)


def call(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        raw = resp.read()
    return raw if url.split("?")[0].endswith("/view") else json.loads(raw)


def run(url: str, graph: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    prompt_id = call(f"{url}/prompt", {"prompt": graph, "client_id": "bench"})["prompt_id"]
    while True:
        entry = call(f"{url}/history/{prompt_id}").get(prompt_id)
        if entry and entry["status"].get("status_str") in ("success", "error"):
            return time.monotonic() - started, entry
        time.sleep(0.2)


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("stub", "tiny"), default="stub")
    parser.add_argument("--runs", type=int, default=2, help="runs in all (the first encodes the text)")
    args = parser.parse_args()
    inst = install()
    with tempfile.TemporaryDirectory(prefix="smoke-bench-") as tmp:
        t0 = time.monotonic()
        report = build_smoke_weights(Path(tmp) / "cache", inst=inst, kind=args.kind, i2v=False)
        size = sum(p.stat().st_size for p in report.paths)
        print(
            f"weights ({args.kind}): {size / 2**20:.1f} MiB, generated and checked in "
            f"{time.monotonic() - t0:.1f} s"
        )
        graph = json.loads(SAMPLE.read_text())
        graph["45"]["inputs"].update(width=64, height=64, length=5)
        graph["17"]["inputs"]["steps"] = 2
        with LocalComfyUI(inst, base_dir=Path(tmp) / "base") as comfy:
            install_smoke_weights(
                [f.path(Path(tmp) / "cache") for f in T2V_FILES], Path(tmp) / "cache", comfy.models_dir
            )
            for i in range(args.runs):
                graph["25"]["inputs"]["noise_seed"] = i + 1
                seconds, entry = run(comfy.url, graph)
                item = entry["outputs"]["80"]["images"][0]
                query = urllib.parse.urlencode({k: item[k] for k in ("filename", "subfolder", "type")})
                frames = decode_rgb_frames(call(f"{comfy.url}/view?{query}"))
                check = check_frames(frames, expect_frames=5, expect_size=(64, 64))
                label = "first run (text encoded)" if i == 0 else "same text, new seed"
                print(
                    f"{label}: {seconds:.1f} s, {entry['status']['status_str']}, "
                    f"frames ok={check.ok} {check.reason}"
                )
            assert comfy.proc is not None
            print(f"ComfyUI peak RSS (VmHWM): {vm_hwm_mib(comfy.proc.pid):.0f} MiB")


if __name__ == "__main__":
    main()
