"""`compare A/report.json B/report.json`: metric deltas and, case by case, what got better or worse."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from evals.metrics import CaseResult
from evals.report import LOWER_IS_BETTER, METRIC_NAMES, Report

Verdict = Literal["better", "worse", "same"]


class MetricDelta(BaseModel):
    name: str
    a: float | None
    b: float | None
    delta: float | None
    verdict: Verdict


class CaseChange(BaseModel):
    id: str
    verdict: Verdict
    a: str  # "aligned pass", "pass 60%", "invalid" ...
    b: str
    fixed: list[str]  # failure reasons in A that B no longer has
    broken: list[str]  # failure reasons new in B


class Comparison(BaseModel):
    a: str
    b: str
    metrics: list[MetricDelta]
    changes: list[CaseChange]  # only cases whose verdict is not "same" or whose reasons changed
    only_in_a: list[str]
    only_in_b: list[str]

    @property
    def better(self) -> list[CaseChange]:
        return [c for c in self.changes if c.verdict == "better"]

    @property
    def worse(self) -> list[CaseChange]:
        return [c for c in self.changes if c.verdict == "worse"]


def _rank(r: CaseResult) -> tuple[int, int, int, float, int]:
    """Cases are ordered by the nested ComfyGPT levels: valid < pass < aligned pass, then alignment,
    then the live levels. A case expecting a refusal is right (the top) or wrong (the bottom)."""
    if r.expects_refusal:
        return (1, 1, 1, 1.0, 2) if r.refusal_met else (0, 0, 0, 0.0, 0)
    return (
        int(r.format_valid),
        int(r.passed),
        int(r.aligned_pass),
        round(r.alignment, 6),
        int(bool(r.live_passed)) + int(bool(r.executed)),
    )


def _state(r: CaseResult) -> str:
    if r.expects_refusal:
        verdict = "refusal met" if r.refusal_met else "refusal missed"
        return f"{verdict} (expected {r.expected_error}, got {r.answer})"
    if r.error is not None:
        return "error"
    if not r.format_valid:
        return "invalid"
    level = "aligned pass" if r.aligned_pass else ("pass" if r.passed else "fail")
    return f"{level} {r.alignment * 100:.0f}%"


def _verdict(a: float | None, b: float | None, lower_better: bool) -> Verdict:
    if a is None or b is None or abs(a - b) < 1e-9:
        return "same"
    return "better" if (b < a) == lower_better else "worse"


def compare_reports(a: Report, b: Report, *, a_name: str = "A", b_name: str = "B") -> Comparison:
    metrics = []
    for name in METRIC_NAMES:
        va, vb = getattr(a.metrics, name), getattr(b.metrics, name)
        delta = None if va is None or vb is None else vb - va
        metrics.append(
            MetricDelta(name=name, a=va, b=vb, delta=delta, verdict=_verdict(va, vb, name in LOWER_IS_BETTER))
        )
    cases_a = {r.id: r for r in a.cases}
    cases_b = {r.id: r for r in b.cases}
    changes = []
    for case_id, rb in cases_b.items():
        ra = cases_a.get(case_id)
        if ra is None:
            continue
        ka, kb = _rank(ra), _rank(rb)
        verdict: Verdict = "same" if ka == kb else ("better" if kb > ka else "worse")
        fa, fb = ra.failure_reasons, rb.failure_reasons
        fixed = [x for x in fa if x not in fb]
        broken = [x for x in fb if x not in fa]
        if verdict != "same" or fixed or broken:
            changes.append(
                CaseChange(
                    id=case_id, verdict=verdict, a=_state(ra), b=_state(rb), fixed=fixed, broken=broken
                )
            )
    return Comparison(
        a=a_name,
        b=b_name,
        metrics=metrics,
        changes=changes,
        only_in_a=[i for i in cases_a if i not in cases_b],
        only_in_b=[i for i in cases_b if i not in cases_a],
    )
