"""Recorded generation runs: `GET /api/workflow/generate/{thread_id}` reads a run's latest checkpoint.

Every `POST /api/workflow/generate` (and `/stream`, `/api/video/generate`) run is checkpointed under the
`thread_id` its response carries (`api.checkpoints`); this route shows what that run recorded: its request,
the agents' steps, the workflow and where it stopped. Only the newest `checkpoint_keep` runs are kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import CheckpointsDep
from api.errors import NotFoundError

router = APIRouter(tags=["generation"])


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


@router.get(
    "/api/workflow/generate/{thread_id}",
    response_model=GenerationRun,
    summary="The recorded state and agent steps of a generation run",
    responses={404: {"description": "No such run (unknown, or pruned: only the newest runs are kept)"}},
)
async def generation_run(thread_id: str, checkpoints: CheckpointsDep) -> GenerationRun:
    run = await checkpoints.run(thread_id)
    if run is None:
        raise NotFoundError(
            f"no generation run {thread_id!r}: unknown, or older than the newest runs the gateway keeps "
            "(CHECKPOINT_KEEP)"
        )
    values: dict[str, Any] = run["values"]
    status = str(values.get("status") or "running")
    return GenerationRun(
        thread_id=thread_id,
        status=status,
        finished=status != "running",
        started_at=run["started_at"],
        updated_at=run["updated_at"],
        checkpoints=run["checkpoints"],
        request=_dict(values.get("request")),
        intent=_dict(values.get("intent")),
        template=values.get("template"),
        workflow=_dict(values.get("workflow")),
        link_list=_dict(values.get("link_list")),
        validation=_dict(values.get("validation")),
        steps=_dicts(values.get("steps")),
        repairs=_dicts(values.get("repairs")),
        prompt_id=values.get("prompt_id"),
        outputs=_dicts(values.get("outputs")),
        error=values.get("error"),
        error_code=values.get("error_code"),
    )


# The pipeline's state keys (pipeline.state.PipelineState) read as plain data: this route does not import the
# pipeline, so the core API keeps working whatever state the generation packages are in.
def _dict(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [dict(v) for v in value if isinstance(v, dict)] if isinstance(value, list) else []
