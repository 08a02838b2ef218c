"""The smoke set through the planner against the real local ComfyUI: live_pass_rate and executed_rate
measured for real (weight-free graphs run to the end; the others run against placeholder model files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals import graph
from evals.runner import run_eval

pytestmark = pytest.mark.integration

SMOKE = Path(__file__).resolve().parents[3] / "evals" / "sets" / "smoke.jsonl"

# Where ComfyUI's core loaders look for each weight input (the operator's job on a real backend).
LOADER_FOLDERS = {
    "UNETLoader": "diffusion_models",
    "DualCLIPLoader": "text_encoders",
    "CLIPLoader": "text_encoders",
    "VAELoader": "vae",
    "CLIPVisionLoader": "clip_vision",
    "CheckpointLoaderSimple": "checkpoints",
    "UpscaleModelLoader": "upscale_models",
    "LoraLoader": "loras",
}


def provide_placeholder_models(results: Path, models_dir: Path) -> list[Path]:
    """Empty files named like every weight the offline run's graphs load: ComfyUI accepts a graph naming
    them (and would fail at the loader, which the runner never lets happen)."""
    made = []
    for line in results.read_text().splitlines():
        workflow: Any = json.loads(line).get("workflow")
        if not isinstance(workflow, dict) or graph.format_problems(workflow):
            continue
        for _, cls, _, name in graph.model_files(workflow):
            folder = LOADER_FOLDERS.get(cls)
            if folder is None:
                continue
            path = models_dir / folder / name
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"")
                made.append(path)
    return made


async def test_smoke_set_live_against_real_comfyui(comfyui: Any, tmp_path: Path) -> None:
    offline = await run_eval(SMOKE, out_dir=tmp_path / "offline", concurrency=2)
    assert offline.metrics.format_validity > 0.9
    provide_placeholder_models(tmp_path / "offline" / "results.jsonl", Path(comfyui.models_dir))

    report = await run_eval(
        SMOKE, comfyui_url=comfyui.url, out_dir=tmp_path / "live", concurrency=2, execute_timeout=120
    )
    m = report.metrics
    assert m.live_pass_rate is not None and m.executed_rate is not None
    by_id = {r.id: r for r in report.cases}
    # Weight-free requests really ran and saved files.
    for case_id in ("smoke-mf-001", "smoke-mf-002", "smoke-mf-005"):
        r = by_id[case_id]
        assert r.needs_weights is False, r.nodes
        assert r.live_passed, r.live_problems
        assert r.executed, r.execution_error
        assert r.outputs >= 1
    # What the catalog accepts offline, the real ComfyUI accepts too (model files being present).
    for r in report.cases:
        if r.passed:
            assert r.live_passed, (r.id, r.live_problems)
    assert m.executed_cases >= 3
    assert m.executed_rate == 1.0
    data = json.loads((tmp_path / "live" / "report.json").read_text())
    assert data["metrics"]["live_pass_rate"] == m.live_pass_rate
    assert "live ComfyUI" in (tmp_path / "live" / "report.md").read_text()
