"""`GET /api/v2/health`: the v2 surface's liveness plus whether the ComfyUI backend answers (not in the
vendored 2.0.0 contract; the issue names it, so it answers in the contract's spirit: 200, a small object)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.auth import ReadAccess
from api.deps import ClientDep
from comfyui_client import ComfyError

router = APIRouter(prefix="/api/v2", tags=["comfy-api-v2"])


@router.get("/health")
async def health(client: ClientDep, _: ReadAccess) -> dict[str, Any]:
    try:
        await client.system_stats()
        backend = "ok"
    except ComfyError:
        backend = "unreachable"
    return {"status": "ok" if backend == "ok" else "degraded", "api_version": "2.0.0", "backend": backend}
