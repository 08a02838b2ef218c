"""The evaluation runner: every case of a set through a system under test, scored offline and (with a live
ComfyUI) by POST /prompt and by really running the graphs that need no weights, and image and video graphs
whose every weight file is a smoke-weight file on the backend (downscaled, judged by their decoded output).
Results are appended to DIR/results.jsonl one case at a time, so a crashed run resumes where it stopped."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from evals import graph_facts
from evals.cases import Case, load_set, select
from evals.errors import EvalError, InputFileError, RunDirError
from evals.inputs import input_file
from evals.live import Execution, LiveBackend, smoke_loras_fit
from evals.metrics import CaseResult, alignment_of
from evals.report import Report, RunInfo, build_report
from evals.report_files import write_reports
from evals.scoring import Problem, Validator, check_expectations, forgive_present_files
from evals.smoke import EXECUTE_SMOKE, ExecuteSmoke, downscaled
from evals.system import SystemOutput, SystemUnderTest

log = logging.getLogger(__name__)
EXTRA_FILE = "file:"  # key prefix of a case's `files` among the uploaded inputs

Strategy = Literal["planner", "llm"]
RESULTS = "results.jsonl"
MANIFEST = "run.json"
ProgressHook = Callable[[CaseResult, Sequence[CaseResult]], None]
FilesNeeded = Callable[[Mapping[str, Any]], dict[str, list[str]]]


class RunManifest(BaseModel):
    """What a results folder was produced from; a rerun must match it to resume."""

    set_path: str
    set_sha256: str
    strategy: str
    live: bool


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare_out_dir(out_dir: Path, manifest: RunManifest) -> dict[str, CaseResult]:
    """Create `out_dir` or check it holds the same run; return the results already there (by case id).
    A torn last line (the crash happened mid-write) is dropped and that case runs again."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(f"cannot create {out_dir}: {exc}") from exc
    manifest_path = out_dir / MANIFEST
    if manifest_path.exists():
        try:
            old = RunManifest.model_validate_json(manifest_path.read_text())
        except (OSError, ValidationError) as exc:
            raise RunDirError(f"{manifest_path} is unreadable ({exc}); use another --out") from exc
        if (old.set_sha256, old.strategy, old.live) != (
            manifest.set_sha256,
            manifest.strategy,
            manifest.live,
        ):
            raise RunDirError(
                f"{out_dir} holds results of another run ({old.set_path}, strategy {old.strategy}, "
                f"live {old.live}); use another --out or delete it"
            )
    else:
        manifest_path.write_text(manifest.model_dump_json(indent=2))
    done: dict[str, CaseResult] = {}
    results_path = out_dir / RESULTS
    if results_path.exists():
        lines = results_path.read_text(encoding="utf-8").splitlines()
        good: list[str] = []
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                result = CaseResult.model_validate_json(line)
            except ValidationError:
                log.warning(
                    "%s:%d: unreadable result line dropped; that case runs again", results_path, lineno
                )
                continue
            done[result.id] = result
            good.append(line)
        if len(good) != len([x for x in lines if x.strip()]):
            results_path.write_text("".join(g + "\n" for g in good), encoding="utf-8")
    return done


class Runner:
    """Runs cases with bounded concurrency. One instance per run."""

    def __init__(
        self,
        system: SystemUnderTest,
        validator: Validator,
        *,
        out_dir: Path,
        backend: LiveBackend | None = None,
        inputs_dir: Path | None = None,
        concurrency: int = 4,
        execute_timeout: float = 120.0,
        output_classes: Sequence[str] = (),
        on_result: ProgressHook | None = None,
        files_needed: FilesNeeded | None = None,
        execute_smoke: ExecuteSmoke = "smoke",
        smoke_timeout: float = 600.0,
        execute_video: ExecuteSmoke | None = None,
        video_timeout: float | None = None,
    ) -> None:
        # execute_video/video_timeout: the names from when only video graphs ran; they win when given.
        execute_smoke = execute_video if execute_video is not None else execute_smoke
        smoke_timeout = video_timeout if video_timeout is not None else smoke_timeout
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if execute_smoke not in EXECUTE_SMOKE:
            raise ValueError(f"execute_smoke (execute_video) must be one of {', '.join(EXECUTE_SMOKE)}")
        self.system = system
        self.validator = validator
        self.out_dir = out_dir
        self.backend = backend
        self.inputs_dir = inputs_dir
        self.concurrency = concurrency
        self.execute_timeout = execute_timeout
        self.output_classes = list(output_classes)
        self.on_result = on_result
        self.files_needed = files_needed
        self.execute_smoke = execute_smoke
        self.smoke_timeout = smoke_timeout
        self._write_lock = asyncio.Lock()
        # One smoke run at a time: ComfyUI runs jobs one by one, and each run's timeout must be its own.
        self._smoke_lock = asyncio.Lock()
        self._upload_lock = asyncio.Lock()
        self._uploaded: dict[str, str] = {}

    async def _inputs(self, case: Case) -> dict[str, str]:
        """Input names as the backend stores them: each file uploaded once per run (or, offline, its name)."""
        names: dict[str, str] = {}
        for kind, name in case.given_files():
            async with self._upload_lock:
                if name not in self._uploaded:
                    try:
                        content, made = input_file(kind, name, self.inputs_dir)
                    except InputFileError:
                        if kind != "video" or self.backend is None:
                            raise
                        # No PyAV here: the live backend can make the video itself.
                        content, made = await self.backend.render_video(name), True
                    if made:
                        log.debug("placeholder %s made for %s", name, case.id)
                    stored = name
                    if self.backend is not None:
                        stored = await self.backend.upload(content, name)
                    self._uploaded[name] = stored
                # one file per kind goes to the system as structured input; the others are named in the prompt
                names[kind if name in case.inputs.values() else f"{EXTRA_FILE}{name}"] = self._uploaded[name]
        return names

    async def score(self, case: Case, output: SystemOutput, inputs: Mapping[str, str]) -> CaseResult:
        """Score one system output: offline always, live when a backend is set. A case expecting a refusal
        (`expect.error`) is met by no graph and exactly that error code; any graph it gets is not scored
        (nor submitted): it is kept out of the graph metrics."""
        refused = output.workflow is None
        result = CaseResult(
            id=case.id,
            task=case.task,
            prompt=case.prompt,
            tags=case.tags,
            error=output.error if refused else None,
            error_code=output.error_code if refused else None,
            latency_ms=output.latency_ms or 0.0,
            llm_calls=output.llm_calls,
            llm_tokens=output.llm_tokens,
            intent=output.intent,
            workflow=output.workflow,
        )
        if refused and result.error is None:
            result.error = "the system returned no workflow"
        if case.expect.error is not None:
            result.expected_error = case.expect.error
            result.refusal_met = refused and result.error_code == case.expect.error
            return result
        if self.backend is not None:
            result.live_passed = False  # until ComfyUI accepts it; a graph never made is never accepted
        if output.workflow is None:
            return result
        result.format_problems = graph_facts.format_problems(output.workflow)
        result.format_valid = not result.format_problems
        if not result.format_valid:
            return result
        workflow: Mapping[str, Any] = output.workflow
        result.nodes = sorted(graph_facts.class_types(workflow))
        result.needs_weights = graph_facts.needs_weights(workflow)
        if self.files_needed is not None:
            result.model_files = {k: v for k, v in self.files_needed(workflow).items() if k != "input"}
        try:
            problems = self.validator(workflow)
        except Exception as exc:  # a validator bug on one odd graph is that case's finding, not the run's end
            log.exception("validator crashed on case %s", case.id)
            problems = [Problem(type="validator_crashed", message=f"{type(exc).__name__}: {exc}")]
        reported = {(p.node_id, p.input_name) for p in problems}
        problems += [
            p
            for p in self._missing_inputs(workflow, case, inputs)
            if (p.node_id, p.input_name) not in reported
        ]
        result.problems, result.forgiven = forgive_present_files(
            problems, input_files=set(inputs.values()) | set(case.inputs.values()), assume_models=True
        )
        result.passed = not result.problems
        result.checks = check_expectations(
            case.expect, workflow, output.intent, output_classes=self.output_classes
        )
        result.alignment = alignment_of(result.checks, result.format_valid)
        result.aligned_pass = result.passed and all(c.ok for c in result.checks)
        if self.backend is not None:
            await self._live(result, workflow)
        return result

    @staticmethod
    def _missing_inputs(workflow: Mapping[str, Any], case: Case, inputs: Mapping[str, str]) -> list[Problem]:
        """Input files the graph loads that the case did not provide: offline, the case's inputs are the only
        files known to exist (a template's `example.png` would be refused by the real backend)."""
        present = set(inputs.values()) | set(case.inputs.values())
        return [
            Problem(
                type="value_not_in_list",
                message=f"input file {name!r} is not among the case's inputs {sorted(present)}",
                node_id=node_id,
                class_type=cls,
                input_name=input_name,
                received_value=name,
            )
            for node_id, cls, input_name, name in graph_facts.input_files(workflow)
            if name not in present
        ]

    async def _live(self, result: CaseResult, workflow: Mapping[str, Any]) -> None:
        assert self.backend is not None
        acceptance = await self.backend.submit(workflow)
        result.live_passed = acceptance.accepted
        result.live_problems = acceptance.problems
        result.prompt_id = acceptance.prompt_id
        if not acceptance.accepted or acceptance.prompt_id is None:
            return
        if result.needs_weights:
            # Accepted is all we learn without real weights; never keep a GPU busy for a score.
            await self.backend.cancel(acceptance.prompt_id)
            if await self._on_smoke_weights(result, workflow):
                await self._run_on_smoke_weights(result, workflow)
            return
        execution = await self.backend.run_to_end(acceptance.prompt_id, timeout=self.execute_timeout)
        result.executed = execution.ok
        result.outputs = execution.outputs
        result.execution_error = execution.error

    async def _on_smoke_weights(self, result: CaseResult, workflow: Mapping[str, Any]) -> bool:
        """An image or video graph whose every weight file is a smoke-weight file on the backend (never real
        ones)."""
        assert self.backend is not None
        if self.execute_smoke != "smoke" or not result.model_files:
            return False
        if not {"image", "video"} & graph_facts.output_kinds(workflow, self.output_classes):
            return False
        if not await self.backend.smoke_weights(result.model_files):
            return False
        return await smoke_loras_fit(self.backend, workflow)

    async def _run_on_smoke_weights(self, result: CaseResult, workflow: Mapping[str, Any]) -> None:
        """Run a downscaled copy; it counts as executed only if its video (or, for an image graph, its first
        saved image) decodes and `check_frames` is ok."""
        assert self.backend is not None
        from comfyui_local.smoke_weights import SmokeWeightsError, check_frames, decode_rgb_frames

        run = downscaled(workflow)
        video = "video" in graph_facts.output_kinds(workflow, self.output_classes)
        result.smoke_run = True
        async with self._smoke_lock:
            acceptance = await self.backend.submit(run.workflow)
            if not acceptance.accepted or acceptance.prompt_id is None:
                reasons = "; ".join(p.message for p in acceptance.problems) or "rejected"
                execution = Execution(ok=False, error=f"failed: the downscaled copy was refused: {reasons}")
            else:
                execution = await self.backend.run_to_end(acceptance.prompt_id, timeout=self.smoke_timeout)
        result.outputs = execution.outputs
        result.execution_error = execution.error
        result.executed = False
        if not execution.ok:
            return
        kind = "video" if video else "image"
        saved = [f for f in execution.files if f.kind == kind]
        if not saved:
            result.execution_error = f"no-output: the smoke run saved no {kind}"
            return
        data = await self.backend.download(saved[0])
        expect_frames = run.expect_frames if video else 1
        try:
            check = check_frames(
                decode_rgb_frames(data), expect_frames=expect_frames, expect_size=run.expect_size
            )
        except SmokeWeightsError as exc:  # not decodable, or no PyAV here
            result.execution_error = f"frames: {exc}"
            return
        result.executed = check.ok
        result.execution_error = None if check.ok else f"frames: {check.reason}"

    async def run_case(self, case: Case) -> CaseResult:
        inputs = await self._inputs(case)
        started = time.perf_counter()
        try:
            given = {k: v for k, v in inputs.items() if not k.startswith(EXTRA_FILE)}
            output = await self.system(case.prompt, given)
        except EvalError:
            raise
        except Exception as exc:  # a system that raises has failed the case, not the run
            log.debug("system failed on %s", case.id, exc_info=True)
            output = SystemOutput(error=f"{type(exc).__name__}: {exc}")
        if output.latency_ms is None:
            output = output.model_copy(update={"latency_ms": (time.perf_counter() - started) * 1000})
        return await self.score(case, output, inputs)

    async def _append(self, result: CaseResult) -> None:
        line = result.model_dump_json() + "\n"
        async with self._write_lock:
            with (self.out_dir / RESULTS).open("a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()

    async def run(self, cases: Sequence[Case], done: Mapping[str, CaseResult]) -> list[CaseResult]:
        """Run every case not in `done`; return all results in set order. The first runner error (backend
        gone, unreadable input) cancels the rest and propagates; finished cases stay saved."""
        finished: list[CaseResult] = list(done.values())
        todo = [c for c in cases if c.id not in done]
        queue: asyncio.Queue[Case] = asyncio.Queue()
        for case in todo:
            queue.put_nowait(case)

        async def worker() -> None:
            while True:
                try:
                    case = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                result = await self.run_case(case)
                await self._append(result)
                finished.append(result)
                if self.on_result is not None:
                    self.on_result(result, finished)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.concurrency, len(todo))):
                    group.create_task(worker())
        except BaseExceptionGroup as group_error:
            # Report the error that stopped the run, not the task group wrapping it.
            raise _first_leaf(group_error) from group_error
        order = {c.id: i for i, c in enumerate(cases)}
        return sorted((r for r in finished if r.id in order), key=lambda r: order[r.id])


def _first_leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


async def run_eval(
    set_path: str | Path,
    *,
    strategy: Strategy = "planner",
    comfyui_url: str | None = None,
    out_dir: str | Path = "eval-out",
    concurrency: int = 4,
    inputs_dir: str | Path | None = None,
    limit: int | None = None,
    tags: Sequence[str] | None = None,
    llm: Any = None,
    system: SystemUnderTest | None = None,
    validator: Validator | None = None,
    backend: LiveBackend | None = None,
    execute_timeout: float = 120.0,
    progress: bool = False,
    fresh: bool = False,
    execute_smoke: ExecuteSmoke = "smoke",
    smoke_timeout: float = 600.0,
    execute_video: ExecuteSmoke | None = None,
    video_timeout: float | None = None,
) -> Report:
    """Run a prompt set and write DIR/results.jsonl, report.json, report.md and report.html.

    `system`, `validator` and `backend` default to the project's generator (`strategy`, with `llm` an
    `agents.llm.LLMConfig` for "llm"), the bundled node catalog, and a `ComfyClient` on `comfyui_url`.
    `fresh` discards the results of an earlier run in `out_dir` instead of resuming it.
    `execute_smoke="smoke"` runs image and video graphs whose every weight file is a smoke-weight file on
    the live backend (downscaled to 64x64, 5 frames, 2 steps, batch 1; `smoke_timeout` each), "never" only
    checks acceptance. `execute_video`/`video_timeout` are the older names of both (they win when given).
    Raises `EvalError` for runner errors only; low scores are results."""
    path = Path(set_path)
    cases = select(load_set(path), tags=list(tags) if tags else None, limit=limit)
    out = Path(out_dir)
    live = comfyui_url is not None or backend is not None
    manifest = RunManifest(set_path=str(path), set_sha256=_sha256(path), strategy=strategy, live=live)
    if fresh:
        for name in (RESULTS, MANIFEST):
            with contextlib.suppress(FileNotFoundError):
                (out / name).unlink()
    done = prepare_out_dir(out, manifest)
    started_at = datetime.now(UTC)
    async with contextlib.AsyncExitStack() as stack:
        client = None
        if backend is None and comfyui_url is not None:
            from evals.live import ComfyBackend

            comfy = await ComfyBackend.connect(comfyui_url)
            stack.push_async_callback(comfy.aclose)
            backend, client = comfy, comfy.client
        catalog = None
        if system is None or validator is None:
            from evals.wiring import load_catalog

            catalog = load_catalog()
        if validator is None:
            from evals.validator import catalog_validator

            validator = catalog_validator(catalog)
        if system is None:
            from evals.wiring import generator_system

            system = await generator_system(strategy, catalog=catalog, client=client, llm=llm)
        output_classes: list[str] = []
        files_needed: FilesNeeded | None = None
        if catalog is not None:
            from evals.validator import files_needed_by
            from evals.validator import output_classes as find_output_classes

            output_classes = find_output_classes(catalog)
            files_needed = files_needed_by(catalog)
        runner = Runner(
            system,
            validator,
            out_dir=out,
            backend=backend,
            inputs_dir=Path(inputs_dir) if inputs_dir is not None else None,
            concurrency=concurrency,
            execute_timeout=execute_timeout,
            output_classes=output_classes,
            files_needed=files_needed,
            execute_smoke=execute_smoke,
            smoke_timeout=smoke_timeout,
            execute_video=execute_video,
            video_timeout=video_timeout,
        )
        if progress:
            from evals.progress import ProgressDisplay

            with ProgressDisplay(total=len(cases), already=[r for r in done.values()]) as display:
                runner.on_result = display.update
                results = await runner.run(cases, done)
        else:
            results = await runner.run(cases, done)
    info = RunInfo(
        set_path=str(path),
        strategy=strategy,
        comfyui_url=comfyui_url,
        started_at=started_at.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
        cases=len(cases),
        resumed=len([c for c in cases if c.id in done]),
    )
    report = build_report(info, results)
    write_reports(report, out)
    log.info("eval of %d cases written to %s: %s", len(results), out, json.dumps(report.metrics.model_dump()))
    return report
