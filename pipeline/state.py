"""The typed state the LangGraph pipeline carries between agents (plain JSON values, so it checkpoints)."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["running", "valid", "invalid", "submitted", "succeeded", "failed"]
# Why a run stopped: lets the API pick a status code without parsing messages.
ErrorCode = Literal[
    "bad_request",
    "llm_unavailable",
    "llm_error",
    "repair_failed",
    "invalid_workflow",
    "backend_unavailable",
    "backend_error",
    "execution_failed",
    "input_required",
    "missing_capability",
]


class GenerationRequest(BaseModel):
    """What a caller asks the pipeline for."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=4000, description="The request in plain language")
    submit: bool = Field(False, description="Queue the workflow on ComfyUI once it is valid")
    wait: bool = Field(False, description="Follow the job to its end (enables repairs from execution errors)")
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Structured values that win over the text: duration, resolution, style, fps, seed, "
        "steps, "
        "guidance, negative_prompt, task, model_family, input_image, extra_params ...",
    )
    template: str | None = Field(None, description="Force one template by name (planner flow)")
    models: dict[str, list[str]] | None = Field(
        None,
        description="Model files by folder, when there is no backend to ask (validation and model choice)",
    )
    max_repairs: int = Field(3, ge=0, le=10)
    timeout: float = Field(600.0, gt=0, description="Seconds to follow a job when wait is true")

    def as_state(self) -> RequestData:
        """The request as the state holds it: JSON values, every field present (defaults set here, once)."""
        data = self.model_dump(mode="json")
        return RequestData(
            prompt=data["prompt"],
            submit=data["submit"],
            wait=data["wait"],
            overrides=data["overrides"],
            template=data["template"],
            models=data["models"],
            max_repairs=data["max_repairs"],
            timeout=data["timeout"],
        )


class RequestData(TypedDict):
    """`GenerationRequest` in the state (checkpointed as plain JSON, read by nodes with its types)."""

    prompt: str
    submit: bool
    wait: bool
    overrides: dict[str, Any]
    template: str | None
    models: dict[str, list[str]] | None
    max_repairs: int
    timeout: float


class Step(TypedDict):
    agent: str
    strategy: str
    ms: float
    summary: str
    details: dict[str, Any]


class PipelineState(TypedDict, total=False):
    """The run's state; every node returns a partial one (only the keys it changes)."""

    request: RequestData
    models: dict[str, list[str]] | None
    intent: dict[str, Any] | None
    plan: dict[str, Any] | None  # the operations Flow composes (None: one template serves the intent)
    template: str | None
    link_list: dict[str, Any] | None
    workflow: dict[str, Any] | None
    validation: dict[str, Any] | None
    repairs: Annotated[list[dict[str, Any]], operator.add]
    attempts: int  # refine passes made
    executions: int  # submissions made
    bad_models: list[str]
    prompt_id: str | None
    execution_error: dict[str, Any] | None
    outputs: list[dict[str, Any]]
    status: Status
    error: str | None
    error_code: ErrorCode | None
    errors: Annotated[list[str], operator.add]
    steps: Annotated[list[Step], operator.add]


class GenerationResult(BaseModel):
    """What the pipeline produced, and why it looks that way (`steps`, `repairs`)."""

    workflow: dict[str, Any] | None = None
    link_list: dict[str, Any] | None = None
    intent: dict[str, Any] | None = None
    plan: dict[str, Any] | None = Field(
        None,
        description="The ordered operations the graph was composed from (None: filled from one template)",
    )
    template: str | None = None
    validation: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = Field(default_factory=list)
    repairs: list[dict[str, Any]] = Field(default_factory=list)
    prompt_id: str | None = None
    outputs: list[dict[str, Any]] = Field(default_factory=list)
    status: Status = "running"
    error: str | None = None
    error_code: ErrorCode | None = None
    errors: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(
        default_factory=list, description="What the gateway adjusted in the request (e.g. clamped values)"
    )
    thread_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.validation and self.validation.get("ok"))

    @classmethod
    def from_state(cls, state: Mapping[str, Any], *, thread_id: str | None = None) -> GenerationResult:
        """The result of a run as its final state (and checkpoint) recorded it: nothing is patched here."""
        return cls(
            workflow=state.get("workflow"),
            link_list=state.get("link_list"),
            intent=state.get("intent"),
            plan=state.get("plan"),
            template=state.get("template"),
            validation=state.get("validation"),
            steps=[dict(s) for s in state.get("steps", [])],
            repairs=list(state.get("repairs", [])),
            prompt_id=state.get("prompt_id"),
            outputs=list(state.get("outputs") or []),
            status=state.get("status", "running"),
            error=state.get("error"),
            error_code=state.get("error_code"),
            errors=list(state.get("errors", [])),
            warnings=list((state.get("intent") or {}).get("warnings") or []),
            thread_id=thread_id,
        )
