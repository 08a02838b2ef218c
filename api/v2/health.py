"""`GET /api/v2/health`: the v2 surface's liveness plus whether the ComfyUI backend answers (not in the
vendored 2.0.0 contract; the issue names it, so it answers in the contract's spirit: 200, a small object)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from api.auth import ReadAccess
from api.deps import FleetDep

router = APIRouter(prefix="/api/v2", tags=["comfy-api-v2"])


@router.get("/health")
async def health(fleet: FleetDep, _: ReadAccess) -> dict[str, Any]:
    """Degraded when no ComfyUI backend answers now (asked in parallel, each within the check timeout)."""
    failures = await asyncio.gather(*(fleet.probe(b) for b in fleet.backends))
    backend = "ok" if any(f is None for f in failures) else "unreachable"
    return {"status": "ok" if backend == "ok" else "degraded", "api_version": "2.0.0", "backend": backend}
