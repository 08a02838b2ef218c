"""What the fleet asks a backend, each within a time limit: a drained or hung backend must not hold up a
health round or a drain."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from api.jobs.settle import Location, locate
from comfyui_client import ComfyError

if TYPE_CHECKING:
    from api.fleet.backend import Backend
    from api.jobs.state import Job

log = logging.getLogger(__name__)


async def probe(backend: Backend, limit: float) -> str | None:
    """None when the backend answers /system_stats within `limit` seconds, else why not."""
    try:
        async with asyncio.timeout(limit):
            await backend.client.system_stats()
    except TimeoutError:
        return f"no answer within {limit:g} s"
    except ComfyError as exc:
        return str(exc) or type(exc).__name__
    return None


async def ask_location(backend: Backend, job: Job, limit: float) -> Location | None:
    """Where the backend has the job (its /queue, then /history), asked before the job goes elsewhere;
    None when it does not answer within `limit` seconds."""
    try:
        async with asyncio.timeout(limit):
            return await locate(backend.client, job.prompt_id)
    except (TimeoutError, ComfyError) as exc:
        log.info("backend %s cannot say whether it has job %s: %s", backend.name, job.prompt_id, exc)
        return None
