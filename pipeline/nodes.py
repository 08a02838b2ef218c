"""The pipeline graph's node functions and routers (`pipeline.builder` wires and compiles them once).

Nodes return typed partial state (`PipelineState`, only the keys they change); list keys (`steps`, `repairs`,
`errors`) accumulate through reducers. Per-run values (catalog, executor) come from `runtime.context`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from langgraph.runtime import Runtime

from agents.compose import MissingCapability, Plan, PlanError, Planner
from agents.errors import AgentError, InputRequiredError, LLMError, LLMUnavailable, RepairError
from agents.execute import ClientExecutor, ExecuteAgent, Executor, check, compile_workflow
from agents.flow import (
    compose_flow,
    from_template,
    input_files,
    needs_composition,
    plan_task,
    with_request_values,
)
from agents.intent import Intent, Task
from agents.linklist import parse_link_list
from agents.llm import track_usage
from agents.parsing import parse_request
from agents.refine import Refiner
from agents.structured import as_sentence
from agents.values import describe_graph
from comfyui_client import ComfyClient, ComfyError, ComfyTimeout, ComfyUnavailable, PromptRejected
from node_catalog import Catalog
from pipeline.context import CatalogSource, ModelSource, RunContext
from pipeline.state import ErrorCode, PipelineState, RequestData, Step
from pipeline.strategies import Strategies
from pipeline.templates import TemplateError, TemplateLibrary

log = logging.getLogger(__name__)

_ANIMATIONS = frozenset({"image_to_video", "video_to_video"})
_DESCRIBED = _ANIMATIONS | {"restyle"}  # template operations whose prompt the planner reads better
FINISH: Literal["finish"] = "finish"  # every path ends here (error and error_code recorded), then END


def _step(agent: str, strategy: str, started: float, summary: str, **details: Any) -> Step:
    return Step(
        agent=agent,
        strategy=strategy,
        ms=round((time.perf_counter() - started) * 1000, 3),
        summary=summary,
        details=details,
    )


def _code(exc: Exception) -> ErrorCode:
    if isinstance(exc, InputRequiredError):
        return "input_required"
    if isinstance(exc, MissingCapability):
        return "missing_capability"
    if isinstance(exc, LLMUnavailable):
        return "llm_unavailable"
    if isinstance(exc, LLMError):
        return "llm_error"
    if isinstance(exc, RepairError):
        return "repair_failed"
    if isinstance(exc, ComfyUnavailable | ComfyTimeout):
        return "backend_unavailable"
    if isinstance(exc, PromptRejected):
        return "invalid_workflow"
    if isinstance(exc, ComfyError):
        return "backend_error"
    return "bad_request"


def _failed(agent: str, strategy: str, started: float, message: str, code: ErrorCode) -> PipelineState:
    return {
        "error": message,
        "error_code": code,
        "errors": [f"{agent}: {message}"],
        "status": "failed",
        "steps": [_step(agent, strategy, started, f"failed: {message}")],
    }


def _with_usage(node: Callable[..., Awaitable[PipelineState]]) -> Any:
    """Record the LLM calls and tokens a node spent in its step's details (`llm_calls`, `llm_tokens`)."""

    @functools.wraps(node)  # LangGraph reads the wrapped signature to inject `runtime`
    async def run(
        self: PipelineNodes, state: PipelineState, *, runtime: Runtime[RunContext]
    ) -> PipelineState:
        with track_usage() as usage:
            update = await node(self, state, runtime=runtime)
        if usage.calls:
            for step in update.get("steps", []):
                step["details"].update(llm_calls=usage.calls, llm_tokens=usage.tokens)
        return update

    return run


class PipelineNodes:
    """The graph's node functions, closed over what is app-wide (strategies, templates, backend); the run's
    catalog and executor come from `runtime.context`, or from these defaults when a run brings none."""

    def __init__(
        self,
        catalogs: CatalogSource,
        strategies: Strategies,
        templates: TemplateLibrary,
        client: ComfyClient | None,
        executor: Executor | None,
        models: ModelSource | None = None,
    ) -> None:
        self.catalogs = catalogs
        self.strategies = strategies
        self.templates = templates
        self.client = client
        self.model_source: ModelSource | None = models or client  # where plans find the model files
        self.executor = executor or (ClientExecutor(client) if client is not None else None)
        self.planner = Planner()

    async def context(
        self, *, catalog: Catalog | None = None, executor: Executor | None = None
    ) -> RunContext:
        """A run's context: the given values, else the current catalog and the default executor."""
        return RunContext(
            catalog=catalog if catalog is not None else await self.catalogs.get(),
            executor=executor or self.executor,
        )

    async def _ctx(self, runtime: Runtime[RunContext]) -> RunContext:
        # a run started straight on the compiled graph (no context=) gets the defaults
        return runtime.context if runtime.context is not None else await self.context()

    async def _models(self, state: PipelineState, ctx: RunContext) -> dict[str, list[str]] | None:
        given = state["request"]["models"]
        if given is not None:
            return {k: list(v) for k, v in given.items()}
        source = self.model_source
        if source is None:
            return None
        catalog = ctx.catalog
        folders = sorted({i.model_folder for s in catalog for i in s.inputs.values() if i.model_folder})
        try:
            known = set(await source.model_folders())
            wanted = [f for f in folders if f in known]
            listed = await asyncio.gather(*(source.models(f) for f in wanted))
            return dict(zip(wanted, listed, strict=True))
        except ComfyError as exc:
            log.warning("could not list the backend's models: %s", exc)
            return None

    @_with_usage
    async def reformat(self, state: PipelineState, *, runtime: Runtime[RunContext]) -> PipelineState:
        started = time.perf_counter()
        ctx = await self._ctx(runtime)
        agent = self.strategies.reformat
        request = state["request"]
        strategy = agent.name
        overrides = request["overrides"]
        plan: Plan | None = None
        models = await self._models(state, ctx)
        prompt = as_sentence(request["prompt"])  # "key: value" lines and JSON-ish objects read as prose
        try:
            # the spec's video route and a forced template keep the one-template path
            if not (request["template"] or overrides.get("video")):
                plan, task, said = await self._plan(request, prompt, _lora_files(models, ctx.catalog))
                if task is not None and not overrides.get("task"):
                    overrides = {**overrides, "task": task}
                if said and not overrides.get("prompt"):
                    overrides = {**overrides, "prompt": said}
            try:
                intent = await agent.reformat(prompt, overrides)
            except LLMError as exc:
                if self.strategies.fallback_reformat is None:
                    raise
                log.warning("LLM reformat failed (%s); falling back to the planner", exc.message)
                strategy = f"planner (LLM failed: {exc.message})"
                intent = await self.strategies.fallback_reformat.reformat(prompt, overrides)
        except AgentError as exc:
            return _failed("reformat", strategy, started, exc.message, _code(exc))
        return {
            "intent": intent.model_dump(mode="json"),
            "plan": plan.model_dump(mode="json") if plan is not None else None,
            "models": models,
            "status": "running",
            "steps": [
                _step(
                    "reformat",
                    strategy,
                    started,
                    intent.describe()
                    + (f"; plan: {' -> '.join(s.op for s in plan.steps)}" if plan is not None else "")
                    + "".join(f"; {w}" for w in intent.warnings),
                    intent=intent.model_dump(exclude_none=True),
                    warnings=intent.warnings,
                    plan=[step.op for step in plan.steps] if plan is not None else None,
                )
            ],
        }

    async def _plan(
        self, request: RequestData, prompt: str, loras: list[str]
    ) -> tuple[Plan | None, Task | None, str | None]:
        """The plan Flow composes (None: one template serves the request, or the planner reads no
        operation), the task it implies for Reformat (None: Reformat reads the task itself) and, when one
        template serves it, the planner's description of the picture: it leaves out more request phrasing
        ("animate this photo, the waves should crash" -> "the waves should crash") than Reformat's."""
        files = input_files(request["overrides"])
        try:
            plan = self.planner.plan(prompt, files, loras=loras)  # deterministic, < 1 ms
        except PlanError as exc:
            log.debug("no plan of operations (%s): the template path serves the request", exc)
            return None, None, None
        if plan.implicit_source and len(plan.steps) == 2 and plan.steps[1].op in _ANIMATIONS:
            # "an image-to-video of a bridge", no picture given: the user meant one of theirs, which the
            # template path asks for (input_required), rather than a picture the planner generates first
            return None, None, None
        served = self.templates.serves
        if needs_composition(plan, served) and self.strategies.llm_planner is not None:
            plan = await self.strategies.llm_planner.plan(prompt, files)  # LLMError: reformat's
        if needs_composition(plan, served):
            return plan, plan_task(plan), None
        # one template serves it; only an upscale's task is the planner's to say (it reads more phrasings)
        step = plan.steps[0]
        said = str(step.params.get("prompt") or "") if step.op in _DESCRIBED else None
        return None, plan_task(plan) if step.op == "upscale" else None, said

    @_with_usage
    async def flow(self, state: PipelineState, *, runtime: Runtime[RunContext]) -> PipelineState:
        started = time.perf_counter()
        catalog = (await self._ctx(runtime)).catalog
        agent = self.strategies.flow
        intent = Intent.model_validate(state["intent"])
        forced = state["request"]["template"]
        strategy = agent.name
        try:
            if forced:
                outcome = from_template(self.templates.get(forced), intent, catalog)
                strategy = "template"
            elif state.get("plan"):
                plan = Plan.model_validate(state["plan"])
                plan = with_request_values(plan, intent, _said(state["request"], plan))
                outcome = compose_flow(plan, catalog, input_files(state["intent"] or {}), state.get("models"))
                strategy = "composer"
            else:
                try:
                    outcome = await agent.flow(intent, catalog, state.get("models"))
                except LLMError as exc:
                    if self.strategies.fallback_flow is None:
                        raise
                    log.warning("LLM flow failed (%s); falling back to the planner", exc.message)
                    strategy = f"planner (LLM failed: {exc.message})"
                    outcome = await self.strategies.fallback_flow.flow(intent, catalog, state.get("models"))
        except (AgentError, TemplateError) as exc:
            return _failed("flow", strategy, started, exc.message, _code(exc))
        doc, name = outcome.link_list, outcome.template
        summary = f"{len(doc.nodes)} nodes, {len(doc.links)} links" + (
            f" from template {name}" if name else ""
        )
        return {
            "link_list": doc.to_document(),
            "template": name,
            "steps": [_step("flow", strategy, started, summary, template=name, values=outcome.notes)],
        }

    @_with_usage
    async def refine(self, state: PipelineState, *, runtime: Runtime[RunContext]) -> PipelineState:
        started = time.perf_counter()
        refiner = Refiner((await self._ctx(runtime)).catalog, self.strategies.chooser)
        strategy = self.strategies.chooser.name
        try:
            doc = parse_link_list(state["link_list"] or {})
        except AgentError as exc:
            return _failed("refine", strategy, started, exc.message, _code(exc))
        intent = Intent.model_validate(state["intent"])
        models = state.get("models")
        bad_models = list(state.get("bad_models") or [])
        fixes: list[str] = []
        attempt = state.get("attempts", 0) + 1
        update: PipelineState = {"attempts": attempt}
        try:
            error = state.get("execution_error")
            if error:
                fixes += refiner.fix_execution_error(doc, error, models=models, bad_models=bad_models)
                update["execution_error"] = None
                update["bad_models"] = bad_models
            validation = state.get("validation")
            if validation and not validation.get("ok"):
                fixes += refiner.fix_validation(doc, validation, models=models)
            fixes += await refiner.refine(doc, models=models, bad_models=bad_models, intent=intent)
        except AgentError as exc:
            return _failed("refine", strategy, started, exc.message, _code(exc))
        update["link_list"] = doc.to_document()
        update["steps"] = [
            _step(
                "refine", strategy, started, f"{len(fixes)} fixes" if fixes else "nothing to fix", fixes=fixes
            )
        ]
        if fixes:
            update["repairs"] = [
                {
                    "attempt": attempt,
                    "fixes": fixes,
                    "cause": "execution_error" if error else "validation" if validation else "refine",
                }
            ]
        return update

    async def validate(self, state: PipelineState, *, runtime: Runtime[RunContext]) -> PipelineState:
        started = time.perf_counter()
        catalog = (await self._ctx(runtime)).catalog
        try:
            doc = parse_link_list(state["link_list"] or {})
            workflow = compile_workflow(doc, catalog)
        except AgentError as exc:
            return _failed("validate", "catalog", started, exc.message, _code(exc))
        report = check(workflow, catalog, state.get("models"))
        validation = {
            "ok": report.ok,
            "error": report.error,
            "node_errors": report.node_errors,
            "warnings": report.warnings,
        }
        summary = "valid" if report.ok else report.summary().splitlines()[0]
        # the answer's intent describes the graph produced, not Reformat's first reading of the request
        intent = describe_graph(Intent.model_validate(state["intent"]), workflow, catalog)
        return {
            "workflow": workflow,
            "intent": intent.model_dump(mode="json"),
            "validation": validation,
            "status": "valid" if report.ok else "invalid",
            "steps": [_step("validate", "catalog", started, summary, errors=len(report.errors()))],
        }

    async def execute(self, state: PipelineState, *, runtime: Runtime[RunContext]) -> PipelineState:
        started = time.perf_counter()
        request = state["request"]
        executor = (await self._ctx(runtime)).executor
        if executor is None:
            return _failed(
                "execute",
                "none",
                started,
                "submit needs a ComfyUI backend (no client or executor)",
                "backend_error",
            )
        agent = ExecuteAgent(executor, timeout=request["timeout"])
        executions = state.get("executions", 0) + 1
        try:
            outcome = await agent.run(
                state["workflow"] or {},
                wait=request["wait"],
                extra_data={"comfy_gateway": {"source": "generate", "attempt": executions}},
            )
        except PromptRejected as exc:
            if exc.node_errors and state.get("attempts", 0) <= request["max_repairs"]:
                # ComfyUI saw something the catalog did not (e.g. a newer backend): repair from its answer
                return {
                    "validation": {"ok": False, **exc.body},
                    "status": "invalid",
                    "executions": executions,
                    "errors": [f"execute: ComfyUI rejected the workflow: {exc.message}"],
                    "steps": [_step("execute", "comfyui", started, f"rejected by ComfyUI: {exc.message}")],
                }
            return {
                **_failed(
                    "execute", "comfyui", started, f"ComfyUI rejected the workflow: {exc.message}", _code(exc)
                ),
                "validation": {"ok": False, **exc.body},
                "executions": executions,
            }
        except ComfyError as exc:
            return {
                **_failed("execute", "comfyui", started, exc.message, _code(exc)),
                "executions": executions,
            }
        if outcome.error:
            message = (
                f"{outcome.error.get('node_type')}: {outcome.error.get('exception_message', '')}".strip()
            )
            return {
                "prompt_id": outcome.prompt_id,
                "execution_error": outcome.error,
                "executions": executions,
                "status": "failed",
                "errors": [f"execute: job {outcome.prompt_id} failed in {message}"],
                "steps": [
                    _step(
                        "execute",
                        "comfyui",
                        started,
                        f"job {outcome.prompt_id} failed: {message}",
                        prompt_id=outcome.prompt_id,
                        error=outcome.error,
                    )
                ],
            }
        done = outcome.entry is not None
        return {
            "prompt_id": outcome.prompt_id,
            "outputs": outcome.files,
            "executions": executions,
            "status": "succeeded" if done else "submitted",
            "error": None,
            "steps": [
                _step(
                    "execute",
                    "comfyui",
                    started,
                    f"job {outcome.prompt_id} "
                    + (f"succeeded, {len(outcome.files)} files" if done else "queued"),
                    prompt_id=outcome.prompt_id,
                )
            ],
        }

    @staticmethod
    async def finish(state: PipelineState) -> PipelineState:
        """Record why the run ended without a usable answer, so its result and its checkpoint agree."""
        if state.get("error") is not None:
            return {}
        if state.get("status") == "failed" and state.get("errors"):
            return {"error": state["errors"][-1], "error_code": "execution_failed"}
        validation = state.get("validation")
        if validation is not None and not validation.get("ok"):
            return {
                "status": "invalid",
                "error": "the workflow is still invalid after the allowed repairs",
                "error_code": "invalid_workflow",
            }
        return {}

    # -- routers ----------------------------------------------------------------------------------------
    @staticmethod
    def after(state: PipelineState, nxt: str) -> str:
        return FINISH if state.get("error") else nxt

    @staticmethod
    def after_validate(state: PipelineState) -> Literal["refine", "execute", "finish"]:
        if state.get("error"):
            return FINISH
        if (state.get("validation") or {}).get("ok"):
            return "execute" if state["request"]["submit"] else FINISH
        if state.get("attempts", 0) <= state["request"]["max_repairs"]:
            return "refine"
        return FINISH

    @staticmethod
    def after_execute(state: PipelineState) -> Literal["refine", "finish"]:
        if not state.get("error") and not (state.get("validation") or {}).get("ok", True):
            return "refine"
        if state.get("execution_error") and state.get("executions", 0) <= state["request"]["max_repairs"]:
            return "refine"
        return FINISH


def _lora_files(models: dict[str, list[str]] | None, catalog: Catalog) -> list[str]:
    """The backend's LoRA files: its `loras` folder when listed, else the catalog's LoRA loader choices."""
    if models is not None and "loras" in models:
        return models["loras"]
    spec = catalog.get("LoraLoader")
    inp = spec.inputs.get("lora_name") if spec is not None else None
    return [o for o in (inp.options or ()) if isinstance(o, str)] if inp is not None else []


_SAID_BY_FIELD = {"resolution": ("width", "height"), "width": ("width",), "height": ("height",)}


def _said(request: RequestData, plan: Plan) -> set[str]:
    """Sizes, steps and seeds the request sets for the whole run: its structured fields, "30 steps" or
    "seed 7" in the text, and a size or shape ("1080p", "portrait 9:16") no step took as its own (a composed
    graph otherwise keeps each fragment's own defaults)."""
    said = {"steps", "seed"} & set(request["overrides"])
    for key, names in _SAID_BY_FIELD.items():
        if request["overrides"].get(key) is not None:
            said.update(names)
    parsed = parse_request(as_sentence(request["prompt"]))
    said.update({"steps", "seed"} & set(parsed.numbers))
    shaped = parsed.width or parsed.height or parsed.named_height or parsed.aspect
    if shaped and not any(s.params.get("width") or s.params.get("height") for s in plan.steps):
        said.update(("width", "height"))
    return said
