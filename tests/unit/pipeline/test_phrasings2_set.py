"""evals/sets/phrasings2.jsonl (issue 14: requests written as fields, bullets and JSON-ish objects, negative
asks, aspect ratios and platforms, seeds, batches, timing words, other languages, default picture sizes in
chains, and outputs no workflow makes) through the planner pipeline, offline: every graph case is aligned and
every expected refusal is met, so a regression names its case."""

from __future__ import annotations

from pathlib import Path

from evals.runner import run_eval

SET = Path(__file__).resolve().parents[3] / "evals" / "sets" / "phrasings2.jsonl"


async def test_every_phrasing_is_aligned_and_every_refusal_met(tmp_path: Path) -> None:
    report = await run_eval(SET, strategy="planner", out_dir=tmp_path, concurrency=2)
    assert report.metrics.cases >= 60
    failed = {
        r.id: [f"{c.name}: expected {c.expected}, got {c.actual}" for c in r.checks if not c.ok] or r.error
        for r in report.cases
        if not (r.refusal_met if r.expected_error else r.aligned_pass)
    }
    assert not failed
    assert report.metrics.refusal_accuracy == 1.0
