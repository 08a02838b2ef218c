"""A run's report: the Report model (report.json, the contract: top-level `metrics`), how it is built and
loaded, and the metric cells report.md and report.html share."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ValidationError

from evals.errors import ReportError
from evals.metrics import (
    CaseResult,
    FailureReason,
    Metrics,
    compute_metrics,
    failure_reasons,
    metrics_by_task,
)

# The headline figures, first in every table: accepted by the validator, and really run to a good output
# (the benchmarks of the field count a workflow as passed only when it executes).
HEADLINE_NAMES = ("pass_rate", "executed_rate")
METRIC_NAMES = (
    *HEADLINE_NAMES,
    "format_validity",
    "live_pass_rate",
    "alignment",
    "aligned_pass_rate",
    "operation_rate",
    "node_diversity",
    "latency_ms_p50",
    "latency_ms_p95",
    "llm_calls",
    "llm_tokens",
    "refusal_accuracy",
)
LOWER_IS_BETTER = frozenset({"latency_ms_p50", "latency_ms_p95", "llm_calls", "llm_tokens"})
# Shares in [0, 1]: every metric but the count of distinct nodes and the costs.
RATE_NAMES = frozenset(METRIC_NAMES) - LOWER_IS_BETTER - {"node_diversity"}
# Measured over the graph cases only (cases expecting a refusal are not graph cases).
GRAPH_METRICS = (RATE_NAMES - {"refusal_accuracy"}) | {"node_diversity"}


class RunInfo(BaseModel):
    set_path: str
    strategy: str
    comfyui_url: str | None = None
    started_at: str
    finished_at: str
    cases: int
    resumed: int = 0  # cases taken from an earlier, interrupted run of the same folder


class Report(BaseModel):
    run: RunInfo
    metrics: Metrics
    by_task: dict[str, Metrics]
    failure_reasons: list[FailureReason]
    model_files: dict[
        str, list[str]
    ] = {}  # folder -> every model file the graphs name (what a backend needs)
    cases: list[CaseResult]


def build_report(info: RunInfo, results: Sequence[CaseResult]) -> Report:
    return Report(
        run=info,
        metrics=compute_metrics(results),
        by_task=metrics_by_task(results),
        failure_reasons=failure_reasons(results),
        model_files=_model_files(results),
        cases=list(results),
    )


def _model_files(results: Sequence[CaseResult]) -> dict[str, list[str]]:
    folders: dict[str, set[str]] = {}
    for r in results:
        for folder, names in r.model_files.items():
            folders.setdefault(folder, set()).update(names)
    return {folder: sorted(names) for folder, names in sorted(folders.items())}


def fmt(name: str, value: float | int | None) -> str:
    """A metric for people: rates in percent, latencies in ms, counts as integers, `-` when not measured."""
    if value is None:
        return "-"
    if name in RATE_NAMES:
        return f"{value * 100:.1f}%"
    if name.startswith("latency"):
        return f"{value:.1f} ms"
    return str(int(value))


def metric_value(metrics: Metrics, name: str) -> float | int | None:
    """One metric for display: None (not measured) for a graph metric of a group holding no graph case."""
    if name in GRAPH_METRICS and metrics.graph_cases == 0 and metrics.cases > 0:
        return None
    value: float | int | None = getattr(metrics, name)
    return value


def metric_cell(metrics: Metrics, name: str) -> str:
    """`fmt` of one metric of `metrics` (`-` where not measured, see `metric_value`)."""
    return fmt(name, metric_value(metrics, name))


def headline(metrics: Metrics) -> str:
    """`pass_rate 57.1%, executed_rate 100.0% (3 graphs run)`: the first line of every report."""
    cells = ", ".join(f"{name} {metric_cell(metrics, name)}" for name in HEADLINE_NAMES)
    if metrics.executed_rate is None:
        return f"{cells} (no graph ran: offline, or none was accepted that could run here)"
    return f"{cells} ({metrics.executed_cases} graphs run)"


def refusal_cell(result: CaseResult) -> str:
    """A case's refusal column: `-` for a graph case, else met or what it got instead."""
    if result.expected_error is None:
        return "-"
    if result.refusal_met:
        return f"met ({result.expected_error})"
    return f"missed: expected {result.expected_error}, got {result.answer}"


def refusal_counts(metrics: Metrics) -> str:
    """`1 of 2 met; 184 graph cases` for the line under the metrics, empty when no case expects a refusal."""
    if not metrics.refusal_cases:
        return ""
    return (
        f"{metrics.refusals_met} of {metrics.refusal_cases} expected refusals met; "
        f"{metrics.graph_cases} graph cases (the base of the graph metrics)"
    )


def report_json(report: Report) -> str:
    # Per-case graphs stay in results.jsonl; the report keeps every score and reason.
    data = report.model_dump(mode="json", exclude={"cases": {"__all__": {"workflow"}}})
    for case, result in zip(data["cases"], report.cases, strict=True):
        case["failure_reasons"] = result.failure_reasons
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def load_report(path: str | Path) -> Report:
    p = Path(path)
    try:
        return Report.model_validate_json(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"cannot read {p}: {exc}") from exc
    except ValidationError as exc:
        raise ReportError(
            f"{p} is not an eval report.json: {exc.error_count()} problem(s), first: "
            f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}"
        ) from exc
