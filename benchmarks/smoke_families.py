"""Every smoke family, written and then run one after another in ONE local ComfyUI process.

    .venv/bin/python -m benchmarks smoke_families [FAMILY ...]     # default: every family

Per family: the files written (in a temporary folder, so always generated; MiB on disk, seconds, the worker's
peak RSS so far), then one graph of the generator per family (a template, or the composer from a request),
shrunk as the eval runner shrinks it (64x64, 5 frames, 2 steps), its seconds, ComfyUI's peak RSS after it and
the frame check of its output. The order is the families' order; a family whose graph comes out NaN after
another family ran would fail the frame check here.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from benchmarks.smoke_weights import call, run, vm_hwm_mib
from comfyui_local import LocalComfyUI, install
from comfyui_local.smoke_families import FAMILIES, build_families, family_files
from comfyui_local.smoke_weights import check_frames, decode_rgb_frames, install_smoke_weights
from evals.smoke import downscaled

HINT = "bench_in.png"
# family -> (template, values) or (None, request text for the composer)
GRAPHS: dict[str, tuple[str | None, Any]] = {
    "hunyuan_video": ("hunyuan_t2v", {}),
    "sd15": ("sd15_t2i", {}),
    "sdxl": ("sdxl_t2i", {}),
    "esrgan": ("upscale_model", {"image": HINT}),
    "flux": ("flux_t2i", {}),
    "sd15_controlnet": (None, f"a robot following the edges of {HINT}"),
    "sdxl_controlnet": (None, f"an SDXL image of a robot, canny edges from {HINT}"),  # + the sdxl files
    "qwen_image": (None, "a poster with the text 'GRAND OPENING' in bold letters"),
    # these two run on the flux / sd15 files as well: name those families too
    "flux_redux": (None, f"paint a harbour in the style of {HINT}"),
    "sd15_style": (None, f"an SD1.5 picture of a harbour in the style of {HINT}"),
    # a lone "wan 2.1 video" takes the HunyuanVideo template; a chain is composed from the wan21 fragments
    "wan21": (None, "a 2 second wan 2.1 video of a fox running, then upscale it 2x"),
    # these run on the sd15 (+ its depth ControlNet) / qwen_image files as well
    "lotus_depth": (None, f"a medieval castle using the depth of {HINT}"),
    "qwen_image_controlnet": (None, f"a qwen image of a castle, canny controlnet from {HINT}"),
    "sd21_unclip": (None, f"make variations of {HINT}"),
}


def graph_for(family: str) -> dict[str, Any]:
    from node_catalog import Catalog
    from pipeline import GenerationRequest, Generator
    from pipeline.templates.library import load_dir

    template, arg = GRAPHS[family]
    if template is not None:
        folder = Path(__file__).parents[1] / "pipeline" / "templates"
        templates = {t.name: t for t in load_dir(folder, source="bundled")}
        return templates[template].render(arg, ignore_unknown=True)
    request = GenerationRequest(prompt=arg, overrides={"input_image": HINT})
    result = asyncio.run(Generator(Catalog.bundled()).generate(request))
    return dict(result.workflow or {})


def upload_hint(url: str) -> None:
    import httpx

    from evals.inputs import png_bytes

    httpx.post(f"{url}/upload/image", files={"image": (HINT, png_bytes(64, 64), "image/png")}, timeout=30)


def main() -> None:
    # `python -m benchmarks smoke_families sd15 ...`: the words that name a family choose them
    families = [a for a in sys.argv[1:] if a in FAMILIES] or list(FAMILIES)
    inst = install()
    with tempfile.TemporaryDirectory(prefix="smoke-families-") as tmp:
        cache = Path(tmp) / "cache"
        for family in families:
            t0 = time.monotonic()
            report = build_families(cache, [family], inst=inst)
            size = sum(cache.joinpath(f.folder, f.filename).stat().st_size for f in family_files([family]))
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(
                f"{family}: wrote {', '.join(report.generated) or 'nothing'}: {size / 2**20:.1f} MiB in "
                f"{time.monotonic() - t0:.1f} s (worker peak RSS so far {peak:.0f} MiB)",
                flush=True,
            )
        with LocalComfyUI(inst, base_dir=Path(tmp) / "base") as comfy:
            files = family_files(families)
            install_smoke_weights([f.path(cache) for f in files], cache, comfy.models_dir)
            upload_hint(comfy.url)
            for family in families:
                if family not in GRAPHS:
                    continue
                small = downscaled(graph_for(family))
                seconds, entry = run(comfy.url, small.workflow)
                status = entry["status"]["status_str"]
                outputs = [i for o in entry.get("outputs", {}).values() for i in o.get("images", [])]
                check = "no output"
                if status == "success" and outputs:
                    ref = {k: outputs[0][k] for k in ("filename", "subfolder", "type")}
                    query = urllib.parse.urlencode(ref)
                    frames = decode_rgb_frames(call(f"{comfy.url}/view?{query}"))
                    result = check_frames(frames, expect_frames=small.expect_frames)
                    check = "ok" if result.ok else result.reason
                assert comfy.proc is not None
                print(
                    f"{family} graph: {seconds:.1f} s, {status}, frames {check}, ComfyUI peak RSS "
                    f"{vm_hwm_mib(comfy.proc.pid):.0f} MiB",
                    flush=True,
                )
        print(json.dumps({"families": families}))


if __name__ == "__main__":
    main()
