"""The floor: a bare Starlette app answering a small JSON body, served like the gateway (uvicorn, one worker).

Whatever the gateway costs beyond this on the same machine is the gateway's own.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = {"prompt_id": "00000000-0000-0000-0000-000000000000", "status": "completed", "progress": 100.0}


async def status(request: Request) -> JSONResponse:
    return JSONResponse({**BODY, "prompt_id": request.path_params["prompt_id"]})


app = Starlette(routes=[Route("/status/{prompt_id}", status)])
