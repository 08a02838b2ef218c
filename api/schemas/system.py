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
