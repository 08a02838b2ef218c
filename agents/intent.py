"""`Intent`: what the user asked for, in the structured form every later agent works from."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

Task = Literal[
    "text-to-video",
    "image-to-video",
    "video-to-video",
    "text-to-image",
    "image-to-image",
    "upscale",
    "test-video",
    "test-image",
]
TASKS: tuple[Task, ...] = get_args(Task)
VIDEO_TASKS: frozenset[str] = frozenset({"text-to-video", "image-to-video", "video-to-video", "test-video"})
# The fragment families' names (`agents/compose/fragments/<family>.json`), "_" written "-"; "none": no model.
ModelFamily = Literal["hunyuan-video", "sd15", "sdxl", "flux", "qwen-image", "wan21", "sd21-unclip", "none"]


class Intent(BaseModel):
    """The request after Reformat. Fields left `None` mean "use the template's default"."""

    model_config = ConfigDict(extra="forbid")

    task: Task
    prompt: str = Field("", description="Positive prompt, with the style folded in")
    negative_prompt: str = ""
    model_family: ModelFamily | None = None
    duration: float | None = Field(None, gt=0, le=600, description="Seconds of video")
    fps: float | None = Field(None, gt=0, le=120)
    frames: int | None = Field(None, ge=1, le=4096)
    width: int | None = Field(None, ge=16, le=8192)
    height: int | None = Field(None, ge=16, le=8192)
    style: str | None = None
    seed: int | None = Field(None, ge=0, le=2**64 - 1)
    steps: int | None = Field(None, ge=1, le=1000)
    guidance: float | None = Field(None, ge=0, le=100, description="CFG scale or distilled guidance")
    denoise: float | None = Field(None, ge=0, le=1)
    upscale_factor: float | None = Field(None, gt=0, le=8)
    color: int | None = Field(None, ge=0, le=0xFFFFFF, description="RGB for solid-colour test media")
    input_image: str | None = Field(None, description="File name in ComfyUI's input folder")
    input_video: str | None = None
    output_format: str | None = None
    model_files: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="Model files the request names (checkpoint, LoRA ...), used where a loader lists them",
    )
    extra_params: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(
        default_factory=list, description="Values the gateway adjusted (clamped to the supported range)"
    )

    @field_validator("prompt", "negative_prompt")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @property
    def is_video(self) -> bool:
        return self.task in VIDEO_TASKS

    def describe(self) -> str:
        """One line for step logs."""
        parts: list[str] = [self.task]
        if self.width and self.height:
            parts.append(f"{self.width}x{self.height}")
        if self.frames:
            parts.append(f"{self.frames} frames")
        if self.fps:
            parts.append(f"{self.fps:g} fps")
        if self.model_family:
            parts.append(self.model_family)
        return ", ".join(parts)


def _llm_schema() -> dict[str, Any]:
    # The LLM describes the request; warnings are the gateway's own notes, not something it should write.
    schema = Intent.model_json_schema()
    schema["properties"].pop("warnings", None)
    return schema


INTENT_JSON_SCHEMA: dict[str, Any] = _llm_schema()
