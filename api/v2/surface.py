"""The Comfy API v2 surface (`/api/v2/...`, the contract vendored in `api/v2/openapi.yaml`, version 2.0.0).

`install(app)` is the one call `create_app` makes: it adds the routers (rate-limited like every other, left
out of the gateway's own /openapi.json: the vendored contract documents them), the error envelope for
/api/v2 paths, and the asset store, opened and closed around the app's lifespan. The routes run on the same
`JobService`, job database, API keys and event stream as the user's spec routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from api.limits import rate_limit
from api.settings import Settings
from api.v2 import assets, health, jobs
from api.v2.errors import V2Envelope
from api.v2.store import AssetStore, default_assets_dir


def install(app: FastAPI) -> None:
    for module in (jobs, assets, health):
        app.include_router(module.router, dependencies=[Depends(rate_limit)], include_in_schema=False)
    app.add_middleware(V2Envelope)
    app.router.lifespan_context = _with_assets(app.router.lifespan_context)


def _with_assets(
    inner: Callable[[FastAPI], AbstractAsyncContextManager[Any]],
) -> Callable[[FastAPI], AbstractAsyncContextManager[Any]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            settings: Settings = app.state.settings
            store = AssetStore(
                settings.database_url, settings.assets_dir or default_assets_dir(settings.database_url)
            )
            await store.open()
            app.state.v2_assets = store
            try:
                yield state
            finally:
                await store.close()

    return lifespan
