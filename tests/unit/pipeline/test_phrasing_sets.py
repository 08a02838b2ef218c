"""The request sets written in other users' styles, through the planner pipeline offline: every graph case is
aligned (every check met) and every expected refusal is met, so a regression names its case.

- phrasings.jsonl: terse, verbose, non-native, typos, numbers as words, units and sizes said many ways.
- phrasings2.jsonl (issue 14): requests written as fields, bullets and JSON-ish objects, negative asks, aspect
  ratios and platforms, seeds, batches, timing words, other languages, default picture sizes in chains, and
  outputs no workflow makes.
- routing.jsonl (issue 14): ControlNet kinds said outright or only suggested, across families; variations of a
  picture in many phrasings; batches said as "N times" or "takes"; "8k"; truncated typos.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.runner import run_eval

SETS = Path(__file__).resolve().parents[3] / "evals" / "sets"


@pytest.mark.parametrize(("name", "at_least"), [("phrasings", 50), ("phrasings2", 60), ("routing", 40)])
async def test_every_case_is_aligned_and_every_refusal_met(tmp_path: Path, name: str, at_least: int) -> None:
    report = await run_eval(SETS / f"{name}.jsonl", strategy="planner", out_dir=tmp_path, concurrency=2)
    assert report.metrics.cases >= at_least
    failed = {
        r.id: [f"{c.name}: expected {c.expected}, got {c.actual}" for c in r.checks if not c.ok] or r.error
        for r in report.cases
        if not (r.refusal_met if r.expected_error else r.aligned_pass)
    }
    assert not failed
    assert report.metrics.refusal_accuracy in (None, 1.0)
    assert report.metrics.operation_rate in (None, 1.0)
