"""Where a job of the fleet may go: the tags its request asks for, which rows each backend's tracker takes,
and the names of the places that are not a backend (held in the gateway, refused)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from api.errors import RETRY_AFTER_SECONDS, ApiError
from api.jobs.state import Job

HELD = ""  # the `backend` recorded for a job waiting in the gateway for a backend (kept across restarts)
IN_GATEWAY, REFUSED = "held", "refused"  # where a placement went, besides a backend (metrics' labels)
TAKEN = "taken"  # a move another replica made first (its row was no longer the one read): not counted


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
