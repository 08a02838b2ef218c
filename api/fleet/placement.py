"""Where a job of the fleet may go: the tags its request asks for, which rows each backend's tracker takes,
the names of the places that are not a backend (held in the gateway, refused), and the claim on a job's row
that lets one replica move it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from api.errors import RETRY_AFTER_SECONDS, ApiError
from api.jobs.state import Job, JobStatus
from api.jobs.store import JobStoreError

if TYPE_CHECKING:
    from api.fleet.backend import Backend

log = logging.getLogger(__name__)

HELD = ""  # the `backend` recorded for a job waiting in the gateway for a backend (kept across restarts)
IN_GATEWAY, REFUSED = "held", "refused"  # where a placement went, besides a backend (metrics' labels)


class NoBackendAvailable(ApiError):
    """Every backend of the fleet is down: nothing can be accepted now (503 with Retry-After)."""

    status_code = 503
    code = "no_backend_available"

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}


def wanted_tags(request: Mapping[str, Any] | None) -> frozenset[str]:
    """The backend tags a job's request asks for (`backend_tags` of a submit), none by default."""
    tags = (request or {}).get("backend_tags") or ()
    return frozenset(str(t) for t in tags) if isinstance(tags, list | tuple) else frozenset()


def owner_rule(names: list[str]) -> Callable[[str], Callable[[Job], bool]]:
    """For each backend name, which active jobs of the database its tracker takes at start: its own, and for
    the first (primary) backend also jobs recorded before the fleet or for a backend no longer configured.
    Held jobs are no tracker's: the fleet places them (`Fleet.start`)."""

    others = (*names, HELD) if len(names) > 1 else tuple(names)  # a fleet of one has no held jobs to place

    def owns(name: str) -> Callable[[Job], bool]:
        primary = name == names[0]
        return lambda job: job.backend == name or (primary and job.backend not in others)

    return owns


async def claim_row(source: Backend, job: Job, target: Backend | None) -> bool | None:
    """Compare-and-set on the row of a job read `submitting` on `source`: the replica posting it (its POST
    unanswered near `SUBMIT_GRACE`) and the source's leader (past it) may both move it at once. The row
    goes to where this move sends it (`target`'s name, still `submitting`; or held, `pending`) only
    while it is still on `source` and `submitting`: one of them moves the job, the other lets its copy
    go (the winner's messages and rows tell it the rest). None: the database did not answer, the job
    stays (a later drain round moves it; a submission stays `submitting`)."""
    try:
        won = await source.tracker.store.move_if(
            job,
            backend=job.backend,
            status=JobStatus.SUBMITTING,
            to_backend=target.name if target is not None else HELD,
            to_status=JobStatus.SUBMITTING if target is not None else JobStatus.PENDING,
        )
    except JobStoreError as exc:
        log.warning(
            "job %s stays on backend %s: its row cannot be claimed (%s)", job.prompt_id, source.name, exc
        )
        return None
    if not won:
        log.info("job %s was moved or settled by another replica first: let go here", job.prompt_id)
        source.tracker.let_go(job.prompt_id)
    elif target is None:
        job.backend = HELD  # the row says so already
    return won
