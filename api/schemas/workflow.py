"""Request and response models of the workflow endpoints (field names from the user's REST spec)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

JobStatusName = Literal["submitting", "pending", "running", "completed", "failed", "cancelled", "timeout"]

EXAMPLE_GRAPH: dict[str, Any] = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 3, "color": 0}},
    "3": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": 8.0}},
    "2": {
        "class_type": "SaveVideo",
        "inputs": {"video": ["3", 0], "filename_prefix": "video/demo", "format": "mp4", "codec": "h264"},
    },
}


WEBHOOK_URL_DESCRIPTION = (
    "Optional http(s) URL: the job's terminal state is POSTed there, signed in the Standard Webhooks format "
    "(same address rules as input URLs; needs WEBHOOK_SECRET on the gateway)"
)


class SubmitRequest(BaseModel):
    """A ComfyUI workflow to run: `{"prompt": {...}}` as in the spec, a bare API graph, or a UI export."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"workflow": {"prompt": EXAMPLE_GRAPH}, "prompt": "Optional text prompt", "extra_data": {}},
            ]
        }
    )

    workflow: Any = Field(
        ...,
        description='`{"prompt": {node_id: {class_type, inputs}}}`, the API graph '
        "itself, or a workflow exported from the ComfyUI editor (converted with the catalog)",
    )
    prompt: str | None = Field(
        None,
        max_length=4000,
        description="Optional text prompt; fills the positive text-encode input "
        "when the workflow has exactly one obvious candidate",
    )
    extra_data: dict[str, Any] = Field(
        default_factory=dict, max_length=32, description="Passed to ComfyUI with the job"
    )
    webhook_url: str | None = Field(None, max_length=2048, description=WEBHOOK_URL_DESCRIPTION)
    backend_tags: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None,
        max_length=16,
        description="With several backends: run only on a backend carrying every one of these tags "
        "(COMFYUI_URLS `;tags=`)",
    )
    retries: int = Field(
        0,
        ge=0,
        le=5,
        description="With several backends: times the job is run again on another backend when the one "
        "running it goes away (otherwise it fails with `job_lost`); jobs not started yet always move",
    )


class SubmitResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "prompt_id": "5b8f0c36-2f0e-4b8a-9c35-6f1a3c5d2e10",
                    "status": "pending",
                    "message": "Workflow submitted successfully",
                },
            ]
        }
    )

    prompt_id: str
    status: JobStatusName = "pending"
    message: str = "Workflow submitted successfully"


class CurrentNode(BaseModel):
    id: str
    class_type: str | None = None


class JobErrorInfo(BaseModel):
    node: str | None = Field(None, description="Id of the node that failed, when known")
    node_type: str | None = None
    type: str = Field(..., description="e.g. ValueError, job_lost, timeout, cancelled")
    message: str


class OutputFileInfo(BaseModel):
    url: str
    filename: str
    subfolder: str = ""
    type: str = "output"
    kind: str
    node_id: str


class WebhookAttempt(BaseModel):
    at: float = Field(..., description="Epoch seconds the attempt started")
    status_code: int | None = Field(None, description="The receiver's HTTP status, null if none came")
    error: str | None = None
    duration_ms: float | None = None


class WebhookDelivery(BaseModel):
    id: str = Field(..., description="The `webhook-id` header (the same on every retry)")
    url: str
    event_type: str = Field(..., description="job.completed, job.failed, job.cancelled or job.timeout")
    state: Literal["pending", "delivered", "failed"]
    attempts: list[WebhookAttempt] = Field(default_factory=list)


class StatusResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "prompt_id": "5b8f0c36-2f0e-4b8a-9c35-6f1a3c5d2e10",
                    "status": "running",
                    "progress": 50.0,
                    "current_node": {"id": "3", "class_type": "VAEDecodeTiled"},
                    "queue_position": 0,
                    "output_images": [],
                    "output_videos": [],
                    "output_audio": [],
                    "output_files": [],
                    "outputs": [],
                    "error": None,
                    "estimated_time_remaining": 120,
                    "created_at": "2026-11-23T21:00:00Z",
                    "started_at": "2026-11-23T21:00:01Z",
                    "finished_at": None,
                }
            ]
        }
    )

    prompt_id: str
    status: JobStatusName
    progress: float = Field(..., ge=0, le=100, description="0-100, weighted over the nodes that will run")
    current_node: CurrentNode | None = None
    queue_position: int | None = Field(None, description="0 running, 1.. pending, null when finished")
    output_images: list[str] = Field(default_factory=list, description="URLs of output images")
    output_videos: list[str] = Field(default_factory=list, description="URLs of output videos")
    output_audio: list[str] = Field(default_factory=list)
    output_files: list[str] = Field(default_factory=list, description="URLs of other output files")
    outputs: list[OutputFileInfo] = Field(default_factory=list, description="Every output with its node")
    error: JobErrorInfo | None = None
    estimated_time_remaining: float | None = Field(None, description="Seconds, from the observed rate")
    source: str = "workflow"
    backend: str | None = Field(None, description="The ComfyUI backend running the job (COMFYUI_URLS name)")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    webhook: list[WebhookDelivery] | None = Field(
        None, description="Deliveries of the job's webhook and their attempts (null without webhook_url)"
    )
    cancel_requested: bool = Field(
        False,
        description="A cancel (or the gateway's timeout) asked ComfyUI to end the job and ComfyUI has not "
        "confirmed it yet: the job keeps its status until then",
    )
    end_requested: Literal["cancelled", "timeout"] | None = Field(
        None, description="The status the job takes once ComfyUI confirms the requested end"
    )
    note: str | None = Field(None, description="What is known but not final yet (not an error)")


class CancelResponse(BaseModel):
    prompt_id: str
    status: JobStatusName
    message: str
    cancel_requested: bool | None = Field(
        None,
        description="Only in a 202 answer: the cancel is asked of ComfyUI, not confirmed yet (the job "
        "keeps its status; see GET /status)",
    )


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"workflows": [{"workflow": {"prompt": EXAMPLE_GRAPH}}, {"workflow": EXAMPLE_GRAPH}]}
            ]
        }
    )

    workflows: list[SubmitRequest] = Field(..., min_length=1, max_length=100)


class BatchItem(BaseModel):
    index: int
    prompt_id: str | None = None
    status: JobStatusName | None = None
    message: str
    error: dict[str, Any] | None = Field(None, description="Why this item was not submitted")


class BatchResponse(BaseModel):
    jobs: list[BatchItem]
    submitted: int
    failed: int


# `[number, prompt_id, info]`. Pydantic writes a tuple as `prefixItems`, which OpenAPI tools reading the
# 3.0 dialect of `items` reject: described portably instead (three items, each one of the three types).
QueueEntry = Annotated[
    tuple[int, str, dict[str, Any]],
    WithJsonSchema(
        {
            "type": "array",
            "description": "[number, prompt_id, info]",
            "items": {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "object"}]},
            "minItems": 3,
            "maxItems": 3,
        }
    ),
]


class QueueResponse(BaseModel):
    """Spec shape: `[number, prompt_id, info]`; pending in execution order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "running": [[1, "prompt_id_1", {"gateway_job": True, "status": "running"}]],
                    "pending": [[2, "prompt_id_2", {"gateway_job": False}]],
                }
            ]
        }
    )

    running: list[QueueEntry]
    pending: list[QueueEntry]
    # A non-admin key sees its own jobs above and only how many others there are (absent for an admin).
    others_running: int | None = Field(None, description="Running jobs of other keys (not listed)")
    others_pending: int | None = Field(None, description="Pending jobs of other keys (not listed)")
    backends: list[dict[str, Any]] | None = Field(
        None,
        description="With several backends: each one's name, health, running and pending counts and queue "
        "age (entries above name their backend in `info.backend`)",
    )
