"""Generation runs under an `Idempotency-Key`: a retried request gets the first run's answer, not a new run.

The submit routes already return the first job for a retried key. A generation run is more than its job:
the pipeline costs planner time and, with the LLM strategy, tokens, and an LLM may plan differently on a
second try. So a run started with a key gets a thread id derived from the (caller-scoped) key, and a retry
reads that run's recorded result back from its checkpoint:

- same request, run finished: the recorded result (same thread id, same workflow, same job);
- same request, still running: 409 with Retry-After (the first answer is on its way);
- another request body under the key: 422 `idempotency_key_reused`, as on submit;
- a run whose checkpoints were pruned (CHECKPOINT_KEEP), or that died before its first checkpoint: run
  again under a fresh thread id; its submit still returns the first job (the executor keeps the key).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from api.auth import Principal
from api.errors import RETRY_AFTER_SECONDS, ApiError
from api.jobs.errors import IdempotencyConflict
from api.jobs.idempotency import Idempotency
from api.jobs.store import JobStore
from pipeline import GenerationRequest, GenerationResult

if TYPE_CHECKING:  # LangGraph: loaded with the first generation request
    from api.run_history import PruningSqliteSaver

# Thread ids of keyed runs: uuid5 of the caller-scoped key in this namespace (stable across replicas).
RUN_NAMESPACE = uuid.UUID("6f1d3c1e-5a3b-4f52-9c57-2f0e9b8e4a10")
# A keyed run recorded this long ago without any checkpoint is taken as dead, not in progress.
STALE_AFTER_SECONDS = 60.0


class RunInProgress(ApiError):
    """A run with this Idempotency-Key is still running (409): retry for its answer."""

    status_code = 409
    code = "run_in_progress"

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}


@dataclass(frozen=True)
class RunStart:
    """Where a generation request runs: its thread id, and the recorded result when it is a replay."""

    thread_id: str
    replay: GenerationResult | None = None


async def start_run(
    store: JobStore,
    checkpoints: PruningSqliteSaver,
    principal: Principal,
    request: GenerationRequest,
    idempotency: Idempotency | None,
) -> RunStart:
    """A new run's thread id (recorded as the caller's), or the recorded result of the run this key made."""
    if idempotency is None:
        return await new_run(store, principal)
    thread_id = str(uuid.uuid5(RUN_NAMESPACE, idempotency.key))
    if await store.claim_run(thread_id, principal.owner):
        return RunStart(thread_id)
    run = await checkpoints.run(thread_id)
    if run is None:
        if time.time() - (await store.run_created(thread_id) or 0.0) < STALE_AFTER_SECONDS:
            raise RunInProgress(
                "a generation request with this Idempotency-Key has just started; retry for its answer"
            )
        return await new_run(store, principal)
    values = run["values"]
    if values.get("request") != request.as_state():
        raise IdempotencyConflict(
            "this Idempotency-Key was already used with a different generation request "
            f"(run {thread_id}); use a new key for a new request"
        )
    if values.get("status", "running") == "running":
        raise RunInProgress(
            f"the generation run {thread_id} for this Idempotency-Key is still running; retry for its answer"
        )
    return RunStart(thread_id, GenerationResult.from_state(values, thread_id=thread_id))


async def new_run(store: JobStore, principal: Principal) -> RunStart:
    """A fresh run under a new thread id, recorded as the caller's before its first checkpoint."""
    thread_id = str(uuid.uuid4())
    await store.record_run(thread_id, principal.owner)
    return RunStart(thread_id)
