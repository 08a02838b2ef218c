"""Recorded generation runs: `GET /api/workflow/generate/{thread_id}` reads a run's latest checkpoint.

Every `POST /api/workflow/generate` (and `/stream`, `/api/video/generate`) run is checkpointed under the
`thread_id` its response carries (`api.run_history`); this route shows what that run recorded: its request,
the agents' steps, the workflow and where it stopped. Only the newest `checkpoint_keep` runs are kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.auth import ReadAccess, visible
from api.deps import CheckpointsDep, StoreDep
from api.errors import NotFoundError
from api.schemas.generation import GenerationRun

router = APIRouter(tags=["generation"])


@router.get(
    "/api/workflow/generate/{thread_id}",
    response_model=GenerationRun,
    summary="The recorded state and agent steps of a generation run",
    responses={404: {"description": "No such run (unknown, or pruned: only the newest runs are kept)"}},
)
async def generation_run(
    thread_id: str, checkpoints: CheckpointsDep, store: StoreDep, principal: ReadAccess
) -> GenerationRun:
    """The run's state at its latest checkpoint, read as plain data (another key's run is a 404 too)."""
    _, owner = await store.run_owner(thread_id)
    run = await checkpoints.run(thread_id) if visible(principal, owner) else None
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
        plan=_dict(values.get("plan")),
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


# The pipeline's state keys (pipeline.state.PipelineState) read as plain data: a checkpoint written by an
# older gateway, or one that stopped mid-way, still reads.
def _dict(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [dict(v) for v in value if isinstance(v, dict)] if isinstance(value, list) else []
