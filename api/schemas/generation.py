"""Bodies of the generation routes: requests, answers, and a recorded run (GET ./generate/{thread_id})."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from api.schemas.workflow import WEBHOOK_URL_DESCRIPTION, SubmitResponse
from api.settings import Settings
from pipeline import GenerationRequest

# A widget value: a scalar a 64-bit ComfyUI input can hold (wider integers broke the run's checkpoint: 500).
INT_RANGE = (-(2**63), 2**64 - 1)


def _no_wide_int(value: Any) -> Any:
    # before the union: else a too-wide int would pass as a float
    if isinstance(value, int) and not isinstance(value, bool) and not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise ValueError("integer outside the 64-bit range")
    return value


ExtraParam = Annotated[
    Annotated[str, Field(max_length=4000)]
    | Annotated[int, Field(ge=INT_RANGE[0], le=INT_RANGE[1])]
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool,
    BeforeValidator(_no_wide_int),
]
ExtraParams = Annotated[
    dict[Annotated[str, Field(max_length=200)], ExtraParam],
    Field(
        default_factory=dict,
        max_length=64,
        description='Widget values: "input" or "Class.input" -> a string, number or boolean',
    ),
]

_THREAD_ID = "The run's id: GET /api/workflow/generate/{thread_id}"
_PLAN = "The ordered operations the graph was composed from (null: filled from one template)"


class GenerateBody(BaseModel):
    # strict: `false` is not 0 and `307.0` not 307 (a request that breaks the schema is refused)
    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str = Field(min_length=1, max_length=4000, examples=["a cat surfing, 3 seconds, 720p"])
    submit: bool = False
    wait: bool = Field(False, description="Follow the job to its end; execution errors are then repaired")
    task: str | None = Field(None, max_length=64)
    duration: float | None = Field(None, gt=0, le=600)
    resolution: str | None = Field(None, max_length=64, examples=["720p", "512x512", "16:9", "vertical"])
    style: str | None = Field(None, max_length=200)
    fps: float | None = Field(None, gt=0, le=120)
    seed: int | None = Field(None, ge=0, le=2**64 - 1)
    steps: int | None = Field(None, ge=1, le=1000)
    negative_prompt: str | None = Field(None, max_length=4000)
    input_image: str | None = Field(None, max_length=1024)
    template: str | None = Field(None, max_length=200)
    extra_params: ExtraParams
    webhook_url: str | None = Field(None, max_length=2048, description=WEBHOOK_URL_DESCRIPTION)
    max_repairs: int = Field(3, ge=0, le=10)
    timeout: float = Field(600.0, gt=0, le=3600)

    def to_request(self, settings: Settings) -> GenerationRequest:
        """The pipeline's request, its repair budget and wait bounded by the gateway's settings."""
        fields = (
            "task",
            "duration",
            "resolution",
            "style",
            "fps",
            "seed",
            "steps",
            "negative_prompt",
            "input_image",
        )
        overrides: dict[str, Any] = {k: getattr(self, k) for k in fields if getattr(self, k) is not None}
        if self.extra_params:
            overrides["extra_params"] = self.extra_params
        return GenerationRequest(
            prompt=self.prompt,
            submit=self.submit,
            wait=self.wait,
            overrides=overrides,
            template=self.template,
            max_repairs=min(self.max_repairs, settings.max_repair_attempts) if self.max_repairs else 0,
            timeout=min(self.timeout, settings.workflow_timeout),
        )


class GenerateResponse(BaseModel):
    workflow: dict[str, Any] | None
    link_list: dict[str, Any] | None
    intent: dict[str, Any] | None
    plan: dict[str, Any] | None = Field(None, description=_PLAN)
    template: str | None
    validation: dict[str, Any] | None
    steps: list[dict[str, Any]]
    repairs: list[dict[str, Any]]
    prompt_id: str | None
    status: str
    outputs: list[dict[str, Any]]
    error: str | None
    error_code: str | None
    thread_id: str | None = Field(None, description=_THREAD_ID)


class VideoGenerateBody(BaseModel):
    """Exactly the spec's request; the structured fields win over what the text says."""

    model_config = ConfigDict(strict=True)

    prompt: str = Field(min_length=1, max_length=4000, examples=["A beautiful sunset over mountains"])
    duration: float | None = Field(None, gt=0, le=600, examples=[5])
    resolution: str | None = Field(None, max_length=64, examples=["512x512"])
    style: str | None = Field(None, max_length=200, examples=["cinematic"])
    extra_params: ExtraParams
    webhook_url: str | None = Field(None, max_length=2048, description=WEBHOOK_URL_DESCRIPTION)

    def to_request(self, settings: Settings) -> GenerationRequest:
        """The spec's video request: a HunyuanVideo task, submitted, with the configured repair budget."""
        overrides: dict[str, Any] = {"video": True}
        for key in ("duration", "resolution", "style"):
            if getattr(self, key) is not None:
                overrides[key] = getattr(self, key)
        if self.extra_params:
            overrides["extra_params"] = self.extra_params
        return GenerationRequest(
            prompt=self.prompt, submit=True, overrides=overrides, max_repairs=settings.max_repair_attempts
        )


class VideoSubmitResponse(SubmitResponse):
    """`/api/workflow/submit`'s answer, plus the generation run that made the workflow."""

    thread_id: str | None = Field(None, description=_THREAD_ID)


class GenerationRun(BaseModel):
    """A recorded run: the pipeline's state at its latest checkpoint."""

    thread_id: str
    status: str = Field(
        description="running (in progress, or stopped mid-way), valid, invalid, submitted, succeeded, failed"
    )
    finished: bool = Field(description="False while the run is in progress or if it stopped before its end")
    started_at: float = Field(description="Epoch seconds of the run's first checkpoint")
    updated_at: float = Field(description="Epoch seconds of its latest checkpoint")
    checkpoints: int = Field(description="Checkpoints recorded for the run")
    request: dict[str, Any] | None
    intent: dict[str, Any] | None
    plan: dict[str, Any] | None = Field(None, description=_PLAN)
    template: str | None
    workflow: dict[str, Any] | None
    link_list: dict[str, Any] | None
    validation: dict[str, Any] | None
    steps: list[dict[str, Any]]
    repairs: list[dict[str, Any]]
    prompt_id: str | None
    outputs: list[dict[str, Any]]
    error: str | None
    error_code: str | None
