"""The CI subset: the shipped smoke set through the real planner (no network), and the progress display."""

from __future__ import annotations

import io
import json
from pathlib import Path

from evals_handmade import HandSystem, fake_validator, red_video
from rich.console import Console

from evals.progress import ProgressDisplay, scores_line
from evals.runner import run_eval
from evals.system import llm_usage

SMOKE = Path(__file__).resolve().parents[3] / "evals" / "sets" / "smoke.jsonl"


async def test_smoke_set_with_the_planner(tmp_path: Path) -> None:
    report = await run_eval(SMOKE, strategy="planner", out_dir=tmp_path, concurrency=2)
    m = report.metrics
    assert m.cases == len(SMOKE.read_text().splitlines())
    assert m.format_validity >= 0.9 and m.pass_rate >= 0.9
    assert m.node_diversity >= 10
    assert m.llm_calls == 0
    by_id = {r.id: r for r in report.cases}
    assert by_id["smoke-mf-001"].needs_weights is False and by_id["smoke-mf-001"].aligned_pass
    assert by_id["smoke-t2v-001"].checks and all(c.ok for c in by_id["smoke-t2v-001"].checks)
    assert json.loads((tmp_path / "report.json").read_text())["run"]["strategy"] == "planner"


async def test_progress_bar_shows_running_scores(tmp_path: Path) -> None:
    set_path = tmp_path / "s.jsonl"
    set_path.write_text(json.dumps({"id": "a", "prompt": "red", "expect": {"output": "video"}}) + "\n")
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=160)
    from evals.runner import Runner, load_set

    runner = Runner(HandSystem({"red": red_video()}), fake_validator, out_dir=tmp_path)
    with ProgressDisplay(total=1, console=console) as display:
        runner.on_result = display.update
        results = await runner.run(load_set(set_path), {})
    assert "FV 100%" in scores_line(results)
    assert "1/1" in buf.getvalue()


def test_llm_usage_from_steps() -> None:
    steps = [
        {"agent": "reformat", "details": {"llm_calls": 2, "llm_tokens": 300}},
        {"agent": "flow", "usage": {"total_tokens": 50}},
        {"agent": "execute", "details": {}},
    ]
    assert llm_usage(steps) == (3, 350)
    assert llm_usage(None) == (0, 0)
