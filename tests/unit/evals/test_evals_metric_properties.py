"""Properties of the metrics over arbitrary (consistent) case results: the ComfyGPT levels nest."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evals.metrics import CaseResult, alignment_of, compute_metrics, metrics_by_task
from evals.scoring import Check


@st.composite
def case_results(draw: st.DrawFn) -> CaseResult:
    fv = draw(st.booleans())
    passed = fv and draw(st.booleans())
    checks = [Check(name="frames", ok=draw(st.booleans())) for _ in range(draw(st.integers(0, 5)))]
    live = draw(st.sampled_from([None, False, True])) if fv else draw(st.sampled_from([None, False]))
    needs = draw(st.booleans())
    executed = draw(st.booleans()) if live and not needs else None
    r = CaseResult(
        id=draw(st.uuids()).hex, task=draw(st.sampled_from(["t2v", "i2v", "t2i"])), prompt="p",
        format_valid=fv, passed=passed, checks=checks, needs_weights=needs, live_passed=live,
        executed=executed, latency_ms=draw(st.floats(0, 1e4)), nodes=draw(st.lists(st.sampled_from("ABCDE"))),
    )  # fmt: skip
    r.alignment = alignment_of(checks, fv)
    r.aligned_pass = passed and all(c.ok for c in checks)
    return r


@st.composite
def refusal_results(draw: st.DrawFn) -> CaseResult:
    """A case expecting a refusal: met, or answered with a graph or another code."""
    answer = draw(st.sampled_from(["input_required", "bad_request", None, "graph"]))
    return CaseResult(
        id=draw(st.uuids()).hex, task=draw(st.sampled_from(["t2v", "unspecified"])), prompt="p",
        error=None if answer == "graph" else "refused", error_code=None if answer == "graph" else answer,
        expected_error="input_required", refusal_met=answer == "input_required",
        latency_ms=draw(st.floats(0, 1e4)),
    )  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.lists(case_results(), min_size=1, max_size=30))
def test_levels_nest_and_stay_in_range(results: list[CaseResult]) -> None:
    m = compute_metrics(results)
    assert 0 <= m.aligned_pass_rate <= m.pass_rate <= m.format_validity <= 1
    assert m.aligned_pass_rate <= m.alignment <= 1
    live = any(r.live_passed is not None for r in results)
    if live and all(r.live_passed is not None for r in results):
        assert m.live_pass_rate is not None and m.live_pass_rate <= m.format_validity
    if m.latency_ms_p50 is not None and m.latency_ms_p95 is not None:
        assert m.latency_ms_p50 <= m.latency_ms_p95
    assert m.node_diversity <= len({n for r in results for n in r.nodes})
    per_task = metrics_by_task(results)
    assert sum(t.cases for t in per_task.values()) == m.cases
    assert m.format_validity * m.cases == pytest.approx(
        sum(t.format_validity * t.cases for t in per_task.values())
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(case_results(), max_size=20), st.lists(refusal_results(), min_size=1, max_size=10))
def test_refusals_change_no_graph_metric(graphs: list[CaseResult], refusals: list[CaseResult]) -> None:
    """Adding cases that expect a refusal leaves every graph metric as it was over the graph cases alone."""
    mixed = compute_metrics(graphs + refusals)
    assert mixed.cases == len(graphs) + len(refusals)
    assert (mixed.graph_cases, mixed.refusal_cases) == (len(graphs), len(refusals))
    assert mixed.refusals_met == sum(bool(r.refusal_met) for r in refusals)
    assert mixed.refusal_accuracy == pytest.approx(mixed.refusals_met / len(refusals))
    if graphs:
        alone = compute_metrics(graphs)
        assert alone.refusal_accuracy is None and alone.refusal_cases == 0
        for name in (
            "format_validity", "pass_rate", "live_pass_rate", "executed_rate", "executed_cases",
            "alignment", "aligned_pass_rate", "node_diversity",
        ):  # fmt: skip
            assert getattr(mixed, name) == getattr(alone, name), name
    per_task = metrics_by_task(graphs + refusals)
    assert sum(t.graph_cases for t in per_task.values()) == len(graphs)
    assert sum(t.refusals_met for t in per_task.values()) == mixed.refusals_met
    assert mixed.format_validity * mixed.graph_cases == pytest.approx(
        sum(t.format_validity * t.graph_cases for t in per_task.values())
    )
