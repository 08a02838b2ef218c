"""evals/sets/routing.jsonl (issue 14: ControlNet kinds said outright or only suggested, across families;
variations of a picture in many phrasings; batches said as "N times" or "takes"; "8k"; truncated typos)
through the planner pipeline, offline: every case is aligned, so a regression names its case."""

from __future__ import annotations

from pathlib import Path

from evals.runner import run_eval

SET = Path(__file__).resolve().parents[3] / "evals" / "sets" / "routing.jsonl"


async def test_every_routing_case_is_aligned(tmp_path: Path) -> None:
    report = await run_eval(SET, strategy="planner", out_dir=tmp_path, concurrency=2)
    assert report.metrics.cases >= 40
    failed = {
        r.id: [f"{c.name}: expected {c.expected}, got {c.actual}" for c in r.checks if not c.ok] or r.error
        for r in report.cases
        if not (r.refusal_met if r.expected_error else r.aligned_pass)
    }
    assert not failed
    assert report.metrics.operation_rate == 1.0
