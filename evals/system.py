"""The system under test: anything that turns a prompt (and named input files) into a graph. The runner only
knows this protocol; `GeneratorSystem` adapts the project's `pipeline.Generator` to it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, Field


class SystemOutput(BaseModel):
    """What a system produced for one case. `workflow` is whatever it returned (scored as-is: a malformed one
    lowers format_validity); `error` is set when it failed to produce anything, and `error_code` says why in
    a word when the system has one (the pipeline's `GenerationResult.error_code`, e.g. `input_required`):
    a case whose `expect.error` names that code is met by such a refusal."""

    workflow: Any = None
    intent: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    error: str | None = None
    error_code: str | None = None
    latency_ms: float | None = Field(None, ge=0, description="Measured by the runner if the system has none")
    llm_calls: int = Field(0, ge=0)
    llm_tokens: int = Field(0, ge=0)


class SystemUnderTest(Protocol):
    """`await system(prompt, inputs)`: inputs maps a kind ("image", "video", "mask") to a file name that the
    backend has (uploaded by the runner) and that the graph should load."""

    async def __call__(self, prompt: str, inputs: Mapping[str, str]) -> SystemOutput: ...


def _as_dict(obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        out = dump(mode="json")
        return out if isinstance(out, dict) else None
    return dict(obj) if isinstance(obj, Mapping) else None


def llm_usage(steps: Any) -> tuple[int, int]:
    """(LLM calls, tokens) summed over a generator's recorded steps. Steps report them (at top level or in
    `details`) as `llm_calls` / `llm_tokens`, or as OpenAI `usage` objects (`total_tokens`), one call each."""
    calls = tokens = 0
    for step in steps or []:
        data = _as_dict(step)
        if not data:
            continue
        if isinstance(data.get("details"), Mapping):
            data = {**data["details"], **data}
        usage = data.get("usage")
        if isinstance(data.get("llm_calls"), int):
            calls += data["llm_calls"]
        elif isinstance(usage, Mapping):
            calls += 1
        if isinstance(data.get("llm_tokens"), int):
            tokens += data["llm_tokens"]
        elif isinstance(usage, Mapping) and isinstance(usage.get("total_tokens"), int):
            tokens += usage["total_tokens"]
    return calls, tokens


class GeneratorSystem:
    """Adapter from `pipeline.Generator` (docs/architecture.md, issue 5) to `SystemUnderTest`.

    Graphs are generated without submitting (`submit=False`): the runner submits them itself so that offline
    and live scoring see the same graph."""

    def __init__(self, generator: Any) -> None:
        self._generator = generator

    def _request(self, prompt: str, inputs: Mapping[str, str]) -> Any:
        from pipeline import GenerationRequest

        # Input files travel as structured overrides (the intent's input_image / input_video); kinds the
        # intent has no field for go to extra_params so that nothing is dropped silently.
        overrides: dict[str, Any] = {}
        extra: dict[str, str] = {}
        for kind, name in inputs.items():
            if kind in ("image", "video"):
                overrides[f"input_{kind}"] = name
            else:
                extra[kind] = name
        if extra:
            overrides["extra_params"] = extra
        return GenerationRequest(prompt=prompt, submit=False, overrides=overrides)

    async def __call__(self, prompt: str, inputs: Mapping[str, str]) -> SystemOutput:
        request = self._request(prompt, inputs)
        started = time.perf_counter()
        try:
            result = await self._generator.generate(request)
        except Exception as exc:  # the generator failing on a case is a score, not a runner error
            return SystemOutput(
                error=f"{type(exc).__name__}: {exc}", latency_ms=(time.perf_counter() - started) * 1000
            )
        latency = (time.perf_counter() - started) * 1000
        calls, tokens = llm_usage(getattr(result, "steps", None))
        error = getattr(result, "error", None)
        code = getattr(result, "error_code", None)
        return SystemOutput(
            workflow=getattr(result, "workflow", None),
            intent=_as_dict(getattr(result, "intent", None)),
            validation=_as_dict(getattr(result, "validation", None)),
            error=None if error is None else str(error),
            error_code=None if code is None else str(code),
            latency_ms=latency,
            llm_calls=calls,
            llm_tokens=tokens,
        )
