"""Models of the health, models and inputs endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ComfyHealth(BaseModel):
    reachable: bool
    url: str
    version: str | None = None
    queue_running: int | None = None
    queue_pending: int | None = None
    error: str | None = None


class BackendHealth(BaseModel):
    """One backend of the fleet (issue 13): its health as the gateway sees it and its load."""

    name: str
    url: str
    weight: float = 1.0
    tags: list[str] = Field(default_factory=list)
    healthy: bool = Field(..., description="Takes new jobs (False: drained after failed checks)")
    reachable: bool | None = Field(None, description="Answered this request's check")
    error: str | None = None
    active_jobs: int = 0
    queue_length: int = 0
    queue_running: int | None = None
    queue_pending: int | None = None
    catalog: dict[str, object] = Field(default_factory=dict)


class HealthResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "comfyui": {
                        "reachable": True,
                        "url": "http://comfyui:8188",
                        "version": "0.3.75",
                        "queue_running": 0,
                        "queue_pending": 0,
                    },
                    "catalog": {"source": "live", "nodes": 515},
                    "active_jobs": 0,
                    "smoke_weights": False,
                }
            ]
        }
    )

    status: Literal["ok", "unavailable"]
    comfyui: ComfyHealth
    catalog: dict[str, object]
    active_jobs: int
    smoke_weights: bool = Field(False, description="True when the backend's models are smoke-test weights")
    backends: list[BackendHealth] = Field(
        default_factory=list, description="Every backend of the fleet (`comfyui` is the primary one)"
    )


class ModelFile(BaseModel):
    name: str
    smoke_weights: bool = False


class FolderModels(BaseModel):
    folder: str
    models: list[ModelFile]


class ModelsResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "folders": {
                        "diffusion_models": [
                            {"name": "hunyuan_video_t2v_720p_bf16.safetensors", "smoke_weights": False}
                        ],
                        "vae": [],
                    },
                    "smoke_weights": False,
                }
            ]
        }
    )

    folders: dict[str, list[ModelFile]]
    smoke_weights: bool
    backends: dict[str, dict[str, list[ModelFile]]] | None = Field(
        None,
        description="With several backends: each one's folders (`folders` is then their union); "
        "a backend that does not answer is left out",
    )


class InputFromJson(BaseModel):
    """An input file given by URL or base64 (multipart uploads use the form fields of the same names)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"url": "https://example.com/first_frame.png", "subfolder": "", "overwrite": False},
                {"base64": "iVBORw0KGgo...", "filename": "first_frame.png"},
            ]
        }
    )

    url: str | None = Field(None, max_length=2048, description="http(s) URL the gateway downloads")
    base64: str | None = Field(None, description="The file content, base64 (a data: URL is accepted too)")
    filename: str | None = Field(
        None, max_length=255, description="Name to store under (default: from the URL)"
    )
    subfolder: str = Field("", max_length=255)
    overwrite: bool = Field(False, description="Replace a file of that name (only one the caller uploaded)")


class InputUploaded(BaseModel):
    name: str
    subfolder: str
    type: str
    ref: str = Field(..., description="The value to put in a loader node (LoadImage image, LoadVideo file)")
