"""evals/sets/phrasings.jsonl (requests in other users' styles: terse, verbose, non-native, typos, numbers
as words, units and sizes said many ways) through the planner pipeline, offline: every case passes with
every check met, so a regression names its case."""

from __future__ import annotations

from pathlib import Path

from evals.runner import run_eval

SET = Path(__file__).resolve().parents[3] / "evals" / "sets" / "phrasings.jsonl"


async def test_every_phrasing_is_aligned(tmp_path: Path) -> None:
    report = await run_eval(SET, strategy="planner", out_dir=tmp_path, concurrency=2)
    assert report.metrics.cases >= 50
    failed = {
        r.id: [f"{c.name}: expected {c.expected}, got {c.actual}" for c in r.checks if not c.ok] or r.error
        for r in report.cases
        if not r.aligned_pass
    }
    assert not failed
