"""Catalog load time and validation time (HunyuanVideo graph, a generated 200-node graph).

Targets (issue 3): load the 515-node catalog in < 300 ms; validate the HunyuanVideo graph well under 1 ms.
Run: `.venv/bin/python -m benchmarks catalog`.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from node_catalog import Catalog, validate
from node_catalog.ui_export import ui_to_api

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "comfyui" / "samples"
HUNYUAN_MODELS = {
    "diffusion_models": ["hunyuan_video_t2v_720p_bf16.safetensors"],
    "text_encoders": ["clip_l.safetensors", "llava_llama3_fp8_scaled.safetensors"],
    "vae": ["hunyuan_video_vae_bf16.safetensors"],
}


def _timeit(fn: Callable[[], object], *, repeat: int, min_time: float = 0.2) -> tuple[float, float]:
    """(median, p95) seconds per call over `repeat` calls, after a warm-up call."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeat or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= repeat * 20:
            break
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def graph_200(catalog: Catalog) -> dict[str, Any]:
    """50 branches of EmptyImage -> ImageScale -> ImageInvert -> PreviewImage: 200 nodes, 150 links."""
    assert all(n in catalog for n in ("EmptyImage", "ImageScale", "ImageInvert", "PreviewImage"))
    wf: dict[str, Any] = {}
    for b in range(50):
        base = b * 4
        wf[str(base + 1)] = {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": b},
        }
        wf[str(base + 2)] = {
            "class_type": "ImageScale",
            "inputs": {
                "image": [str(base + 1), 0],
                "upscale_method": "bilinear",
                "width": 32,
                "height": 32,
                "crop": "disabled",
            },
        }
        wf[str(base + 3)] = {"class_type": "ImageInvert", "inputs": {"image": [str(base + 2), 0]}}
        wf[str(base + 4)] = {"class_type": "PreviewImage", "inputs": {"images": [str(base + 3), 0]}}
    return wf


def measure() -> list[tuple[str, float, float, str]]:
    text = resources.files("node_catalog").joinpath("data/object_info.json").read_text(encoding="utf-8")
    rows: list[tuple[str, float, float, str]] = []
    med, p95 = _timeit(lambda: Catalog.from_object_info(json.loads(text)), repeat=10)
    rows.append(("catalog load: json + parse (515 classes)", med, p95, "< 300 ms"))
    data = json.loads(text)
    med, p95 = _timeit(lambda: Catalog.from_object_info(data), repeat=10)
    rows.append(("catalog parse only", med, p95, ""))
    catalog = Catalog.bundled()
    hunyuan = json.loads((SAMPLES / "09_hunyuan_t2v_official.prompt.json").read_text())
    assert validate(hunyuan, catalog, models=HUNYUAN_MODELS).ok
    med, p95 = _timeit(lambda: validate(hunyuan, catalog, models=HUNYUAN_MODELS), repeat=500)
    rows.append(("validate HunyuanVideo t2v (14 nodes, strict)", med, p95, "well under 1 ms"))
    med, p95 = _timeit(lambda: validate(hunyuan, catalog, strict=False), repeat=500)
    rows.append(("validate HunyuanVideo t2v (ComfyUI mode)", med, p95, ""))
    big = graph_200(catalog)
    assert validate(big, catalog).ok
    med, p95 = _timeit(lambda: validate(big, catalog), repeat=100)
    rows.append(("validate generated 200-node graph", med, p95, ""))
    ui = json.loads((SAMPLES / "hunyuan_video_text_to_video.template_ui.json").read_text())
    med, p95 = _timeit(lambda: ui_to_api(ui, catalog), repeat=500)
    rows.append(("UI -> API, HunyuanVideo template", med, p95, ""))
    med, p95 = _timeit(lambda: catalog.closest("HunyuanVideoSampler"), repeat=20)
    rows.append(("closest('HunyuanVideoSampler') over 515", med, p95, ""))
    return rows


def main() -> None:
    rows = measure()
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'median':>10}  {'p95':>10}  target")
    for name, med, p95, target in rows:
        print(f"{name:<{width}}  {med * 1e3:>8.3f}ms  {p95 * 1e3:>8.3f}ms  {target}")


if __name__ == "__main__":
    main()
