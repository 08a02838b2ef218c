"""The runner on hand-made systems: scoring, inputs, a fake live backend, resumability, reports, compare."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from evals_handmade import HandSystem, fake_validator, hunyuan_t2v, red_video
from typer.testing import CliRunner

from cli.eval_cmd import app
from evals.compare import compare_reports
from evals.errors import BackendError, EvalError, RunDirError
from evals.live import Acceptance, Execution, OutputRef
from evals.report import load_report
from evals.runner import run_eval
from evals.scoring import Problem
from evals.system import SystemOutput
from node_catalog.links import is_link

CASES = [
    {
        "id": "t2v-ok",
        "prompt": "fox 5s 720p",
        "expect": {"task": "text-to-video", "frames": 121, "width": 1280, "height": 720, "output": "video"},
    },
    {"id": "t2v-frames", "prompt": "fox 3s", "expect": {"task": "text-to-video", "frames": 73}},
    {"id": "red", "prompt": "red frames", "expect": {"output": "video", "frames": 49}, "tags": ["smoke"]},
    {"id": "i2v", "prompt": "animate", "inputs": {"image": "cat.png"}, "expect": {"nodes": ["LoadImage"]}},
    {"id": "bad-node", "prompt": "bogus", "expect": {"output": "image"}},
    {"id": "malformed", "prompt": "list", "expect": {"output": "image"}},
    {"id": "crash", "prompt": "crash"},
]


def i2v_graph(name: str) -> dict[str, Any]:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": name}},
        "2": {
            "class_type": "ImageScale",
            "inputs": {
                "image": ["1", 0],
                "upscale_method": "nearest-exact",
                "width": 64,
                "height": 64,
                "crop": "disabled",
            },
        },
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
    }


def answers() -> dict[str, Any]:
    return {
        "fox 5s 720p": hunyuan_t2v(),
        "fox 3s": hunyuan_t2v(frames=121),  # wrong: 3 s at 24 fps is 73 frames
        "red frames": red_video(49),
        "animate": i2v_graph("cat.png"),
        "bogus": {"1": {"class_type": "MagicSaver", "inputs": {}}},
        "list": [["1", "SaveImage"]],
        "crash": RuntimeError("generator bug"),
    }


class InputAwareSystem(HandSystem):
    async def __call__(self, prompt: str, inputs: Mapping[str, str]) -> SystemOutput:
        if prompt == "animate":
            self.calls.append(prompt)
            self.seen_inputs.append(dict(inputs))
            return SystemOutput(workflow=i2v_graph(inputs["image"]), intent={"task": "image-to-video"})
        return await super().__call__(prompt, inputs)


def write_set(tmp_path: Path, cases: list[dict[str, Any]] = CASES) -> Path:
    p = tmp_path / "set.jsonl"
    p.write_text("".join(json.dumps(c) + "\n" for c in cases))
    return p


class FakeBackend:
    """Accepts graphs of known classes, 'runs' weight-free ones (red video succeeds), records cancels."""

    def __init__(self, *, fail_after: int | None = None) -> None:
        self.uploads: dict[str, bytes] = {}
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.fail_after = fail_after

    async def upload(self, content: bytes, filename: str) -> str:
        self.uploads[filename] = content
        return filename

    async def submit(self, workflow: Mapping[str, Any]) -> Acceptance:
        if self.fail_after is not None and len(self.submitted) >= self.fail_after:
            raise BackendError("ComfyUI went away")
        pid = f"p{len(self.submitted)}"
        self.submitted.append(pid)
        unknown = [n for n in workflow.values() if n["class_type"] == "MagicSaver"]
        if unknown:
            return Acceptance(
                accepted=False, problems=[Problem(type="invalid_prompt", message="no MagicSaver")]
            )
        return Acceptance(accepted=True, prompt_id=pid)

    async def run_to_end(self, prompt_id: str, *, timeout: float) -> Execution:  # noqa: ASYNC109
        return Execution(ok=True, outputs=1)

    async def cancel(self, prompt_id: str) -> None:
        self.cancelled.append(prompt_id)

    async def render_video(self, name: str) -> bytes:
        return b"video made by the backend"

    async def smoke_weights(self, files: Mapping[str, Sequence[str]]) -> bool:
        return False  # placeholders, as on a backend whose operator only made the file names exist

    async def download(self, file: OutputRef) -> bytes:
        raise AssertionError("only smoke-weight runs download their video")

    async def aclose(self) -> None:
        pass


async def test_offline_run_scores_every_case_and_writes_reports(tmp_path: Path) -> None:
    system = InputAwareSystem(answers(), intent={"task": "text-to-video"})
    out = tmp_path / "out"
    report = await run_eval(
        write_set(tmp_path), out_dir=out, system=system, validator=fake_validator, concurrency=3
    )
    by_id = {r.id: r for r in report.cases}
    assert [r.id for r in report.cases] == [c["id"] for c in CASES]  # set order, whatever finished first
    assert by_id["t2v-ok"].aligned_pass and by_id["t2v-ok"].alignment == 1.0
    assert by_id["t2v-ok"].passed  # model files are assumed present offline ...
    assert {p.received_value for p in by_id["t2v-ok"].forgiven} >= {"clip_l.safetensors"}  # ... and recorded
    assert by_id["t2v-frames"].alignment == 0.5
    assert by_id["t2v-frames"].failure_reasons == ["check:frames"]
    assert by_id["i2v"].passed  # the case's own input counts as present
    assert by_id["bad-node"].failure_reasons[0] == "validation:invalid_prompt@MagicSaver"
    assert by_id["malformed"].format_valid is False and by_id["malformed"].alignment == 0.0
    assert by_id["crash"].error == "RuntimeError: generator bug"
    m = report.metrics
    assert m.cases == 7
    assert m.format_validity == pytest.approx(5 / 7)
    assert m.pass_rate == pytest.approx(4 / 7)
    assert m.live_pass_rate is None
    for name in ("report.json", "report.md", "report.html", "results.jsonl", "run.json"):
        assert (out / name).is_file()
    data = json.loads((out / "report.json").read_text())
    assert set(data["metrics"]) >= {
        "format_validity",
        "pass_rate",
        "live_pass_rate",
        "executed_rate",
        "alignment",
        "aligned_pass_rate",
        "node_diversity",
        "latency_ms_p50",
        "latency_ms_p95",
        "llm_calls",
        "llm_tokens",
    }
    assert "workflow" not in data["cases"][0]
    assert data["cases"][1]["failure_reasons"] == ["check:frames"]
    assert {"text-to-video", "unspecified"} <= set(data["by_task"])
    html = (out / "report.html").read_text()
    assert html.count("<svg") == 3
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    md = (out / "report.md").read_text()
    assert "| format_validity | 71.4% |" in md and "| t2v-frames |" in md


async def test_rerun_resumes_after_a_crash_and_skips_finished_cases(tmp_path: Path) -> None:
    set_path = write_set(tmp_path)
    out = tmp_path / "out"
    backend = FakeBackend(fail_after=3)
    with pytest.raises(BackendError):
        await run_eval(
            set_path,
            out_dir=out,
            system=InputAwareSystem(answers()),
            validator=fake_validator,
            backend=backend,
            concurrency=1,
        )
    saved = [json.loads(x)["id"] for x in (out / "results.jsonl").read_text().splitlines()]
    assert saved == ["t2v-ok", "t2v-frames", "red"]
    # A torn last line (killed mid-write) is dropped and its case runs again.
    with (out / "results.jsonl").open("a") as fh:
        fh.write('{"id": "i2v", "task": "unspec')
    system = InputAwareSystem(answers())
    report = await run_eval(
        set_path, out_dir=out, system=system, validator=fake_validator, backend=FakeBackend(), concurrency=2
    )
    assert sorted(system.calls) == sorted(["animate", "bogus", "list", "crash"])
    assert report.run.resumed == 3
    assert len(report.cases) == 7
    assert len((out / "results.jsonl").read_text().splitlines()) == 7
    # --fresh starts over, even in a folder of another run.
    system = InputAwareSystem(answers())
    report = await run_eval(
        write_set(tmp_path, CASES[:2]), out_dir=out, system=system, validator=fake_validator, fresh=True
    )
    assert report.run.resumed == 0 and len(system.calls) == 2


async def test_live_run_counts_acceptance_and_runs_only_weight_free_graphs(tmp_path: Path) -> None:
    backend = FakeBackend()
    system = InputAwareSystem(answers())
    report = await run_eval(
        write_set(tmp_path), out_dir=tmp_path / "o", system=system, validator=fake_validator, backend=backend
    )
    by_id = {r.id: r for r in report.cases}
    assert by_id["red"].executed is True and by_id["red"].needs_weights is False
    assert by_id["t2v-ok"].live_passed is True and by_id["t2v-ok"].executed is None
    assert by_id["t2v-ok"].prompt_id in backend.cancelled  # a job needing weights never runs
    assert by_id["bad-node"].live_passed is False
    assert by_id["malformed"].live_passed is False  # never submitted, so never accepted
    assert by_id["i2v"].executed is True
    assert backend.uploads["cat.png"].startswith(b"\x89PNG")
    assert report.metrics.live_pass_rate == pytest.approx(4 / 7)  # nested: over every case, like pass_rate
    assert len(backend.submitted) == 5
    assert report.metrics.executed_rate == 1.0 and report.metrics.executed_cases == 2


async def test_a_folder_of_another_run_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    small = write_set(tmp_path, CASES[:2])
    await run_eval(small, out_dir=out, system=HandSystem(answers()), validator=fake_validator)
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(CASES[2]) + "\n")
    with pytest.raises(RunDirError, match="another run"):
        await run_eval(other, out_dir=out, system=HandSystem(answers()), validator=fake_validator)


async def test_an_input_file_the_case_did_not_provide_fails_offline(tmp_path: Path) -> None:
    case = {"id": "x", "prompt": "animate", "expect": {"output": "video"}}  # no inputs given
    report = await run_eval(
        write_set(tmp_path, [case]),
        out_dir=tmp_path / "o",
        system=HandSystem({"animate": i2v_graph("example.png")}),
        validator=lambda w: [],
    )
    [r] = report.cases
    assert not r.passed
    assert r.failure_reasons[0] == "validation:value_not_in_list@LoadImage.image"


async def test_without_pyav_the_backend_makes_the_placeholder_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evals import inputs as inputs_module

    def no_pyav(name: str, *args: Any, **kwargs: Any) -> bytes:
        raise inputs_module.InputFileError("needs PyAV")

    monkeypatch.setattr(inputs_module, "video_bytes", no_pyav)
    case = {"id": "v", "prompt": "red frames", "inputs": {"video": "clip.mp4"}}
    backend = FakeBackend()
    await run_eval(
        write_set(tmp_path, [case]),
        out_dir=tmp_path / "o",
        system=HandSystem(answers()),
        validator=fake_validator,
        backend=backend,
    )
    assert backend.uploads == {"clip.mp4": b"video made by the backend"}
    with pytest.raises(inputs_module.InputFileError, match="PyAV"):  # offline there is no other way
        await run_eval(
            write_set(tmp_path, [case]),
            out_dir=tmp_path / "o2",
            system=HandSystem(answers()),
            validator=fake_validator,
        )


async def test_a_validator_crash_fails_the_case_not_the_run(tmp_path: Path) -> None:
    def broken(workflow: Mapping[str, Any]) -> list[Problem]:
        raise KeyError("boom")

    report = await run_eval(
        write_set(tmp_path, CASES[:2]), out_dir=tmp_path / "o", system=HandSystem(answers()), validator=broken
    )
    assert [r.failure_reasons[0] for r in report.cases] == ["validation:validator_crashed@graph"] * 2


async def test_inputs_folder_wins_over_placeholders(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cat.png").write_bytes(b"real image bytes")
    backend = FakeBackend()
    await run_eval(
        write_set(tmp_path, [CASES[3]]),
        out_dir=tmp_path / "o",
        system=InputAwareSystem(answers()),
        validator=fake_validator,
        backend=backend,
        inputs_dir=tmp_path / "in",
    )
    assert backend.uploads == {"cat.png": b"real image bytes"}


async def test_compare_case_by_case(tmp_path: Path) -> None:
    set_path = write_set(tmp_path)
    a = await run_eval(
        set_path, out_dir=tmp_path / "a", system=InputAwareSystem(answers()), validator=fake_validator
    )
    fixed = answers()
    fixed["fox 3s"] = hunyuan_t2v(frames=73)
    fixed["red frames"] = {"1": {"class_type": "MagicSaver", "inputs": {}}}
    b = await run_eval(
        set_path, out_dir=tmp_path / "b", system=InputAwareSystem(fixed), validator=fake_validator
    )
    cmp = compare_reports(a, b)
    assert [c.id for c in cmp.better] == ["t2v-frames"]
    assert [c.id for c in cmp.worse] == ["red"]
    assert cmp.better[0].fixed == ["check:frames"]
    deltas = {d.name: d for d in cmp.metrics}
    assert deltas["pass_rate"].verdict == "worse" and deltas["aligned_pass_rate"].verdict == "same"
    assert deltas["node_diversity"].verdict == "worse"
    # The same through the CLI, from the files.
    res = CliRunner().invoke(
        app, ["compare", str(tmp_path / "a" / "report.json"), str(tmp_path / "b" / "report.json")]
    )
    assert res.exit_code == 0, res.output
    assert "t2v-frames" in res.output and "1 better, 1 worse" in res.output
    assert load_report(tmp_path / "b" / "report.json").metrics == b.metrics


def test_cli_exits_non_zero_only_on_runner_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "prompt": "p", "expect": {"framez": 1}}\n')
    res = CliRunner().invoke(app, ["run", str(bad), "--out", str(tmp_path / "o"), "--no-progress"])
    assert res.exit_code == 1
    assert "bad.jsonl:1: unknown key 'expect.framez'" in res.output
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "nope.json"), str(bad)])
    assert res.exit_code == 1 and "cannot read" in res.output


def test_llm_strategy_without_endpoint_is_a_clear_error() -> None:
    import asyncio

    from evals.wiring import generator_system

    with pytest.raises(EvalError, match="OPENAI_BASE_URL"):
        asyncio.run(generator_system("llm", catalog=None))


def test_placeholder_files_are_real(tmp_path: Path) -> None:
    import av

    from evals.inputs import input_file, png_bytes

    png = png_bytes(8, 4)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[16:24] == (8).to_bytes(4, "big") + (4).to_bytes(4, "big")
    content, made = input_file("video", "clip.mp4", None)
    assert made
    (tmp_path / "clip.mp4").write_bytes(content)
    with av.open(str(tmp_path / "clip.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 9
    assert is_link(["1", 0]) and not is_link(["1", True])
