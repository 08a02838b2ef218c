"""Expected refusals: `expect.error` in the set format, scoring, metric denominators, reports and compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from evals_handmade import HandSystem, fake_validator, hunyuan_t2v, red_video
from typer.testing import CliRunner

from cli.eval_cmd import app
from evals.cases import load_set, parse_set
from evals.compare import compare_reports
from evals.errors import SetFormatError
from evals.metrics import CaseResult, compute_metrics, metrics_by_task
from evals.report import load_report
from evals.runner import run_eval
from evals.system import GeneratorSystem, SystemOutput

CORE = Path(__file__).resolve().parents[3] / "evals" / "sets" / "core.jsonl"


def line(**case: object) -> str:
    return json.dumps({"id": "c1", "prompt": "a cat", **case})


def refusal(code: str = "input_required") -> SystemOutput:
    return SystemOutput(error="image-to-video needs an input image", error_code=code, latency_ms=5.0)


# -- the set format ---------------------------------------------------------------------------------------


def test_the_parser_accepts_an_expected_error_code() -> None:
    [case] = parse_set(line(expect={"error": "input_required"}))
    assert case.expect.error == "input_required" and case.expect.refusal
    assert case.task == "unspecified"
    [graph_case] = parse_set(line(expect={"output": "video"}))
    assert graph_case.expect.error is None and not graph_case.expect.refusal


@pytest.mark.parametrize("bad", [5, True, ["input_required"], {"code": "input_required"}])
def test_a_non_string_error_is_rejected_with_its_line(bad: object) -> None:
    text = line() + "\n" + line(id="c2", expect={"error": bad})
    with pytest.raises(SetFormatError) as info:
        parse_set(text, source="set.jsonl")
    assert info.value.problems == ["set.jsonl:2: expect.error: Input should be a valid string"]


@pytest.mark.parametrize("bad", ["", "Input Required", "input-required", "input_required "])
def test_an_error_that_is_not_a_code_is_rejected(bad: str) -> None:
    with pytest.raises(SetFormatError) as info:
        parse_set(line(expect={"error": bad}), source="s")
    [problem] = info.value.problems
    assert problem.startswith("s:1: expect.error:") and "is not an error code" in problem


def test_an_expected_error_stands_alone() -> None:
    with pytest.raises(SetFormatError) as info:
        parse_set(line(expect={"error": "input_required", "output": "video", "task": "i2v"}), source="s")
    assert info.value.problems == [
        "s:1: expect: a case expecting the error 'input_required' has no graph to check; drop output, task"
    ]


def test_the_format_stays_strict_around_error() -> None:
    text = "\n".join(
        [
            line(expect={"errors": "input_required"}),
            line(id="c2", expect={"error": "input_required", "reason": "no image"}),
            line(id="c3", error="input_required"),
        ]
    )
    with pytest.raises(SetFormatError) as info:
        parse_set(text, source="set.jsonl")
    assert info.value.problems == [
        "set.jsonl:1: unknown key 'expect.errors'",
        "set.jsonl:2: unknown key 'expect.reason'",
        "set.jsonl:3: unknown key 'error'",
    ]


def test_the_shipped_set_expects_the_refusal_of_adv_026() -> None:
    by_id = {c.id: c for c in load_set(CORE)}
    assert by_id["adv-026"].expect.error == "input_required"
    assert [c.id for c in by_id.values() if c.expect.refusal] == ["adv-026"]


# -- scoring ----------------------------------------------------------------------------------------------

CASES: list[dict[str, Any]] = [
    {"id": "t2v", "prompt": "fox", "expect": {"task": "text-to-video", "frames": 121}},
    {"id": "red", "prompt": "red frames", "expect": {"output": "video"}},
    {"id": "ref-met", "prompt": "no image", "expect": {"error": "input_required"}},
    {"id": "ref-graph", "prompt": "no image but a graph", "expect": {"error": "input_required"}},
    {"id": "ref-code", "prompt": "no image, other code", "expect": {"error": "input_required"}},
    {"id": "ref-crash", "prompt": "no image, crash", "expect": {"error": "input_required"}},
    {"id": "graph-refused", "prompt": "refuse me", "expect": {"output": "video"}},
]


def answers() -> dict[str, Any]:
    return {
        "fox": hunyuan_t2v(),
        "red frames": red_video(49),
        "no image": refusal(),
        "no image but a graph": red_video(49),
        "no image, other code": refusal("bad_request"),
        "no image, crash": RuntimeError("generator bug"),
        "refuse me": refusal(),
    }


def write_set(tmp_path: Path, cases: list[dict[str, Any]] = CASES) -> Path:
    p = tmp_path / "set.jsonl"
    p.write_text("".join(json.dumps(c) + "\n" for c in cases))
    return p


async def test_refusals_met_and_unmet(tmp_path: Path) -> None:
    report = await run_eval(
        write_set(tmp_path),
        out_dir=tmp_path / "o",
        system=HandSystem(answers(), intent={"task": "text-to-video"}),
        validator=fake_validator,
    )
    by_id = {r.id: r for r in report.cases}
    met = by_id["ref-met"]
    assert met.refusal_met is True and met.expected_error == "input_required"
    assert met.error_code == "input_required" and met.failure_reasons == []
    assert by_id["ref-graph"].refusal_met is False
    assert by_id["ref-graph"].failure_reasons == ["refusal:expected input_required, got graph"]
    assert not by_id["ref-graph"].checks and not by_id["ref-graph"].nodes  # a graph here is not scored
    assert by_id["ref-code"].failure_reasons == ["refusal:expected input_required, got bad_request"]
    assert by_id["ref-crash"].failure_reasons == ["refusal:expected input_required, got error without code"]
    # A graph case the generator refuses stays a failure, as before.
    refused = by_id["graph-refused"]
    assert refused.refusal_met is None and refused.expected_error is None
    assert refused.error_code == "input_required" and refused.failure_reasons == ["generation:error"]
    assert by_id["t2v"].refusal_met is None and by_id["t2v"].aligned_pass
    reasons = {fr.reason: fr.cases for fr in report.failure_reasons}
    assert reasons["refusal:expected input_required, got graph"] == ["ref-graph"]


async def test_refusal_cases_stay_out_of_the_graph_denominators(tmp_path: Path) -> None:
    report = await run_eval(
        write_set(tmp_path),
        out_dir=tmp_path / "o",
        system=HandSystem(answers(), intent={"task": "text-to-video"}),
        validator=fake_validator,
    )
    m = report.metrics
    assert m.cases == 7 and m.graph_cases == 3 and m.refusal_cases == 4 and m.refusals_met == 1
    assert m.refusal_accuracy == pytest.approx(1 / 4)
    # t2v and red are well-formed aligned passes, graph-refused is not: 2 of 3 graph cases.
    for name in ("format_validity", "pass_rate", "alignment", "aligned_pass_rate"):
        assert getattr(m, name) == pytest.approx(2 / 3), name
    # The graph answered to ref-graph (EmptyImage, CreateVideo, SaveVideo) adds no node class of its own,
    # but latency and LLM usage are over every case.
    t2v_nodes = {n for r in report.cases if r.id == "t2v" for n in r.nodes}
    red_nodes = {n for r in report.cases if r.id == "red" for n in r.nodes}
    assert m.node_diversity == len(t2v_nodes | red_nodes)
    assert m.latency_ms_p50 is not None


def test_metric_denominators_on_hand_made_results() -> None:
    def graph(i: int, ok: bool) -> CaseResult:
        return CaseResult(
            id=f"g{i}", task="t2v", prompt="p", format_valid=ok, passed=ok, alignment=float(ok),
            aligned_pass=ok, nodes=["A", f"N{i}"] if ok else [], live_passed=ok, needs_weights=False,
            executed=ok or None, latency_ms=10.0 * i,
        )  # fmt: skip

    def expected_refusal(i: int, met: bool) -> CaseResult:
        return CaseResult(
            id=f"r{i}", task="unspecified", prompt="p", error="refused", error_code="input_required",
            expected_error="input_required", refusal_met=met, latency_ms=1.0,
        )  # fmt: skip

    results = [graph(1, True), graph(2, False), expected_refusal(1, True), expected_refusal(2, False)]
    m = compute_metrics(results)
    assert (m.cases, m.graph_cases, m.refusal_cases, m.refusals_met) == (4, 2, 2, 1)
    assert m.format_validity == m.pass_rate == m.alignment == m.aligned_pass_rate == 0.5
    assert m.live_pass_rate == 0.5  # refusal cases have no live answer to count
    assert m.executed_rate == 1.0 and m.executed_cases == 1
    assert m.node_diversity == 2
    assert m.refusal_accuracy == 0.5
    assert m.latency_ms_p50 == pytest.approx(5.5)  # over all four cases
    only_graphs = compute_metrics(results[:2])
    assert only_graphs.refusal_accuracy is None and only_graphs.refusal_cases == 0
    assert only_graphs.graph_cases == 2
    by_task = metrics_by_task(results)
    assert by_task["unspecified"].graph_cases == 0 and by_task["unspecified"].refusal_accuracy == 0.5
    assert by_task["t2v"].refusal_accuracy is None


async def test_live_runs_never_submit_an_expected_refusal(tmp_path: Path) -> None:
    from test_evals_runner import FakeBackend

    backend = FakeBackend()
    report = await run_eval(
        write_set(tmp_path),
        out_dir=tmp_path / "o",
        system=HandSystem(answers(), intent={"task": "text-to-video"}),
        validator=fake_validator,
        backend=backend,
    )
    by_id = {r.id: r for r in report.cases}
    assert by_id["ref-graph"].live_passed is None and by_id["ref-graph"].prompt_id is None
    assert len(backend.submitted) == 2  # t2v and red; graph-refused has no graph
    assert report.metrics.live_pass_rate == pytest.approx(2 / 3)
    assert report.metrics.executed_rate == 1.0


async def test_the_generator_adapter_passes_the_error_code_on() -> None:
    from pipeline import GenerationResult

    class Refusing:
        async def generate(self, request: Any) -> GenerationResult:
            return GenerationResult(error="needs an image", error_code="input_required", status="failed")

    out = await GeneratorSystem(Refusing())("an image-to-video of a bridge", {})
    assert out.workflow is None and out.error_code == "input_required"


async def test_the_planner_refuses_adv_026_as_the_set_expects(tmp_path: Path) -> None:
    [case] = [c for c in map(json.loads, CORE.read_text().splitlines()) if c["id"] == "adv-026"]
    report = await run_eval(write_set(tmp_path, [case]), strategy="planner", out_dir=tmp_path / "o")
    [r] = report.cases
    assert r.refusal_met, r.failure_reasons
    assert report.metrics.refusal_accuracy == 1.0 and report.metrics.graph_cases == 0


# -- reports and compare ----------------------------------------------------------------------------------


async def test_reports_show_refusal_accuracy(tmp_path: Path) -> None:
    out = tmp_path / "o"
    await run_eval(
        write_set(tmp_path),
        out_dir=out,
        system=HandSystem(answers(), intent={"task": "text-to-video"}),
        validator=fake_validator,
    )
    data = json.loads((out / "report.json").read_text())
    assert data["metrics"]["refusal_accuracy"] == 0.25
    assert (data["metrics"]["refusal_cases"], data["metrics"]["refusals_met"]) == (4, 1)
    assert data["metrics"]["graph_cases"] == 3
    assert data["by_task"]["unspecified"]["refusal_accuracy"] == 0.25
    assert data["by_task"]["text-to-video"]["refusal_accuracy"] is None
    case = next(c for c in data["cases"] if c["id"] == "ref-code")
    assert case["expected_error"] == "input_required" and case["refusal_met"] is False
    assert case["failure_reasons"] == ["refusal:expected input_required, got bad_request"]
    md = (out / "report.md").read_text()
    assert "| refusal_accuracy | 25.0% |" in md
    assert "| refusal_cases (base of refusal_accuracy) | 4 |" in md
    assert "| graph_cases (base of the graph metrics) | 3 |" in md
    assert "| ref-met | unspecified | - | - | - | - | met (input_required) | - |" in md
    assert "missed: expected input_required, got graph" in md
    html = (out / "report.html").read_text()
    assert "refusal_accuracy<b>25.0%</b>" in html
    assert "1 of 4 expected refusals met; 3 graph cases" in html
    assert "met (input_required)" in html and html.count("<svg") == 3


async def test_reports_of_a_set_without_refusals_show_it_as_not_measured(tmp_path: Path) -> None:
    out = tmp_path / "o"
    await run_eval(
        write_set(tmp_path, CASES[:2]),
        out_dir=out,
        system=HandSystem(answers(), intent={"task": "text-to-video"}),
        validator=fake_validator,
    )
    data = json.loads((out / "report.json").read_text())
    assert data["metrics"]["refusal_accuracy"] is None and data["metrics"]["refusal_cases"] == 0
    md = (out / "report.md").read_text()
    assert "| refusal_accuracy | - |" in md and "refusal_cases" not in md
    assert "refusal_accuracy<b>-</b>" in (out / "report.html").read_text()


async def test_a_refusal_only_group_shows_no_graph_scores(tmp_path: Path) -> None:
    out = tmp_path / "o"
    await run_eval(
        write_set(tmp_path, [CASES[0], CASES[2]]),
        out_dir=out,
        system=HandSystem(answers(), intent={"task": "text-to-video"}),
        validator=fake_validator,
    )
    md = (out / "report.md").read_text()
    assert "| unspecified | 1 | - | - | - | - | - | - | - |" in md  # the seven graph metrics
    assert "| text-to-video | 1 | 100.0% |" in md


async def test_compare_handles_reports_with_and_without_refusal_accuracy(tmp_path: Path) -> None:
    # A: the set before expect.error existed (ref-met expected a video and got an error), written as an
    # older report.json without the new metric keys or case fields.
    old_cases = [CASES[0], {"id": "ref-met", "prompt": "no image", "expect": {"output": "video"}}]
    await run_eval(
        write_set(tmp_path, old_cases),
        out_dir=tmp_path / "a",
        system=HandSystem(answers(), intent={"task": "text-to-video"}),
        validator=fake_validator,
    )
    path_a = tmp_path / "a" / "report.json"
    data = json.loads(path_a.read_text())
    new_keys = ("graph_cases", "refusal_accuracy", "refusal_cases", "refusals_met")
    for metrics in [data["metrics"], *data["by_task"].values()]:
        for key in new_keys:
            del metrics[key]
    for case in data["cases"]:
        for key in ("error_code", "expected_error", "refusal_met"):
            del case[key]
    path_a.write_text(json.dumps(data))
    a = load_report(path_a)
    assert a.metrics.refusal_accuracy is None and a.metrics.refusal_cases == 0
    assert a.metrics.graph_cases == 2  # every case of an older report is a graph case
    assert a.metrics.format_validity == 0.5

    b = await run_eval(
        write_set(tmp_path, [CASES[0], CASES[2]]),
        out_dir=tmp_path / "b",
        system=HandSystem(answers(), intent={"task": "text-to-video"}),
        validator=fake_validator,
    )
    cmp = compare_reports(a, b)
    deltas = {d.name: d for d in cmp.metrics}
    assert deltas["refusal_accuracy"].a is None and deltas["refusal_accuracy"].b == 1.0
    assert deltas["refusal_accuracy"].delta is None and deltas["refusal_accuracy"].verdict == "same"
    assert deltas["format_validity"].verdict == "better"  # 1 of 2 graphs -> 1 of 1
    [change] = cmp.changes
    assert (change.id, change.verdict) == ("ref-met", "better")
    assert change.a == "error" and change.b == "refusal met (expected input_required, got input_required)"
    assert change.fixed == ["generation:error"] and change.broken == []
    # Both ways, and the other way round a missed refusal is worse.
    back = compare_reports(b, a)
    assert [c.verdict for c in back.changes] == ["worse"]

    # Two reports that both carry it.
    worse_answers = answers()
    worse_answers["no image"] = red_video(49)
    c = await run_eval(
        write_set(tmp_path, [CASES[0], CASES[2]]),
        out_dir=tmp_path / "c",
        system=HandSystem(worse_answers, intent={"task": "text-to-video"}),
        validator=fake_validator,
    )
    cmp = compare_reports(b, c)
    deltas = {d.name: d for d in cmp.metrics}
    assert deltas["refusal_accuracy"].delta == -1.0 and deltas["refusal_accuracy"].verdict == "worse"
    [change] = cmp.worse
    assert change.id == "ref-met" and change.broken == ["refusal:expected input_required, got graph"]

    res = CliRunner().invoke(app, ["compare", str(path_a), str(tmp_path / "b" / "report.json")])
    assert res.exit_code == 0, res.output
    assert "refusal_accuracy" in res.output and "ref-met" in res.output
