"""Per-case results and the metrics over them (names are the contract of report.json's `metrics`)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field, model_validator

from evals.scoring import Check, Problem, check_reason


class CaseResult(BaseModel):
    """Everything measured on one case; one JSON line of results.jsonl."""

    id: str
    task: str
    prompt: str
    tags: list[str] = Field(default_factory=list)
    error: str | None = None  # the system produced no graph (or crashed)
    error_code: str | None = None  # the system's code for `error`, when it gave one (e.g. input_required)
    expected_error: str | None = None  # the case's `expect.error`: a refusal, not a graph, is correct
    refusal_met: bool | None = None  # None: a graph case; else refused with exactly `expected_error`
    format_valid: bool = False
    format_problems: list[str] = Field(default_factory=list)
    passed: bool = False  # offline: the node catalog's full validation
    problems: list[Problem] = Field(default_factory=list)
    forgiven: list[Problem] = Field(default_factory=list)  # input/model files assumed present offline
    checks: list[Check] = Field(default_factory=list)
    alignment: float = 0.0
    aligned_pass: bool = False
    nodes: list[str] = Field(default_factory=list)
    needs_weights: bool | None = None
    model_files: dict[str, list[str]] = Field(default_factory=dict)  # folder -> names the graph loads
    live_passed: bool | None = None  # None: no live ComfyUI in this run
    live_problems: list[Problem] = Field(default_factory=list)
    prompt_id: str | None = None
    executed: bool | None = None  # None: not run (needs weights, not accepted, or no live ComfyUI)
    smoke_run: bool = False  # a downscaled copy ran on smoke weights; executed only if its frames are ok
    execution_error: str | None = None
    outputs: int = 0
    latency_ms: float = 0.0
    llm_calls: int = 0
    llm_tokens: int = 0
    intent: dict[str, Any] | None = None
    workflow: Any = None

    @property
    def expects_refusal(self) -> bool:
        """The case expects an error code, not a graph: it is kept out of the graph metrics."""
        return self.expected_error is not None

    @property
    def answer(self) -> str:
        """What the system answered, in a word: `graph`, its error code, or `error without code`."""
        if self.error is None:
            return "graph"
        return self.error_code or "error without code"

    @property
    def failure_reasons(self) -> list[str]:
        """Why the case is not an aligned pass (or, expecting a refusal, not refused with its code), one key
        per cause (which check, which node)."""
        if self.expected_error is not None:
            if self.refusal_met:
                return []
            return [f"refusal:expected {self.expected_error}, got {self.answer}"]
        reasons: list[str] = []
        if self.error is not None:
            reasons.append("generation:error")
        if self.error is None and not self.format_valid:
            reasons.append("format:malformed")
        reasons.extend(p.reason for p in self.problems)
        reasons.extend(check_reason(c) for c in self.checks if not c.ok)
        reasons.extend("live:" + p.reason.removeprefix("validation:") for p in self.live_problems)
        if self.live_passed is False and not self.live_problems and self.format_valid:
            reasons.append("live:rejected")
        if self.executed is False:
            reasons.append("execution:" + (self.execution_error or "failed").split(":", 1)[0])
        return list(dict.fromkeys(reasons))


class Metrics(BaseModel):
    """The contract metrics. Rates are shares in [0, 1]; None where the run could not measure them.

    The graph metrics (format_validity ... node_diversity) are over the graph cases only: a case expecting
    a refusal (`expect.error`) counts in `refusal_accuracy` instead. With no graph case (a by-task group of
    refusals only) their rates are 0 and `graph_cases` is 0."""

    cases: int
    format_validity: float
    pass_rate: float
    live_pass_rate: float | None
    executed_rate: float | None
    executed_cases: int = Field(
        description="cases accepted live that needed no weights or ran on smoke weights: the base"
    )
    alignment: float
    aligned_pass_rate: float
    operation_rate: float | None = Field(
        None,
        description="share of the graph cases naming operations (`expect.nodes_any`) whose graph does every "
        "one of them; None when no case names any",
    )
    operation_cases: int = Field(0, description="graph cases naming operations: the base of operation_rate")
    node_diversity: int
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    llm_calls: int
    llm_tokens: int
    graph_cases: int = Field(
        0, description="cases expecting a graph: the base of format_validity ... node_diversity"
    )
    refusal_accuracy: float | None = Field(
        None, description="share of the cases expecting a refusal that got exactly that error code"
    )
    refusal_cases: int = Field(0, description="cases expecting a refusal (`expect.error`): its base")
    refusals_met: int = Field(0, description="of those, refused with exactly the expected code")

    @model_validator(mode="before")
    @classmethod
    def _older_reports(cls, data: Any) -> Any:
        """Reports written before expected refusals existed have every case a graph case."""
        if isinstance(data, dict) and "graph_cases" not in data and isinstance(data.get("cases"), int):
            refusals = data.get("refusal_cases", 0)
            data = {**data, "graph_cases": data["cases"] - (refusals if isinstance(refusals, int) else 0)}
        return data


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def alignment_of(checks: Sequence[Check], format_valid: bool) -> float:
    """Share of checks met; with no checks, 1 for a well-formed graph and 0 otherwise."""
    if not format_valid:
        return 0.0
    return sum(c.ok for c in checks) / len(checks) if checks else 1.0


def _mean(values: Iterable[float]) -> float:
    vals = list(values)
    return sum(vals) / len(vals) if vals else 0.0


def compute_metrics(results: Sequence[CaseResult]) -> Metrics:
    """Graph metrics over the graph cases; `refusal_accuracy` over the cases expecting a refusal; latency
    and LLM usage over every case (a refusal costs time and calls too)."""
    graphs = [r for r in results if not r.expects_refusal]
    refusals = [r for r in results if r.expects_refusal]
    live = [r for r in graphs if r.live_passed is not None]
    runnable = [r for r in live if r.live_passed and (r.needs_weights is False or r.smoke_run)]
    latencies = [r.latency_ms for r in results]
    diverse = {n for r in graphs if r.passed for n in r.nodes}
    met = sum(bool(r.refusal_met) for r in refusals)
    operated = [r for r in graphs if any(c.name == "operation" for c in r.checks)]
    return Metrics(
        cases=len(results),
        format_validity=_mean(r.format_valid for r in graphs),
        pass_rate=_mean(r.passed for r in graphs),
        live_pass_rate=_mean(bool(r.live_passed) for r in live) if live else None,
        executed_rate=_mean(bool(r.executed) for r in runnable) if runnable else None,
        executed_cases=len(runnable),
        alignment=_mean(r.alignment for r in graphs),
        aligned_pass_rate=_mean(r.aligned_pass for r in graphs),
        operation_rate=_mean(
            r.error is None and all(c.ok for c in r.checks if c.name == "operation") for r in operated
        )
        if operated
        else None,
        operation_cases=len(operated),
        node_diversity=len(diverse),
        latency_ms_p50=percentile(latencies, 50),
        latency_ms_p95=percentile(latencies, 95),
        llm_calls=sum(r.llm_calls for r in results),
        llm_tokens=sum(r.llm_tokens for r in results),
        graph_cases=len(graphs),
        refusal_accuracy=met / len(refusals) if refusals else None,
        refusal_cases=len(refusals),
        refusals_met=met,
    )


class FailureReason(BaseModel):
    reason: str
    count: int
    cases: list[str]


def metrics_by_task(results: Sequence[CaseResult]) -> dict[str, Metrics]:
    groups: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        groups[r.task].append(r)
    return {task: compute_metrics(group) for task, group in sorted(groups.items())}


def failure_reasons(results: Sequence[CaseResult]) -> list[FailureReason]:
    """Each reason with how many cases it hit, most frequent first."""
    cases: dict[str, list[str]] = defaultdict(list)
    counts: Counter[str] = Counter()
    for r in results:
        for reason in r.failure_reasons:
            counts[reason] += 1
            cases[reason].append(r.id)
    return [FailureReason(reason=k, count=n, cases=cases[k]) for k, n in counts.most_common()]
