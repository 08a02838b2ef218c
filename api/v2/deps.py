"""What the v2 routes share: the asset store (opened by `api.v2.install`'s lifespan) and the caller's view."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from api.auth import Principal
from api.auth.deps import visible
from api.deps import get_settings
from api.v2.errors import NotFound
from api.v2.store import AssetRow, AssetStore


def get_assets(conn: HTTPConnection) -> AssetStore:
    assets = getattr(conn.app.state, "v2_assets", None)
    if not isinstance(assets, AssetStore):
        raise RuntimeError("app.state.v2_assets is not set: api.v2.install's lifespan did not run")
    return assets


def get_base_url(conn: HTTPConnection) -> str:
    """How clients reach the gateway (PUBLIC_BASE_URL, else the request's own base URL)."""
    return (get_settings(conn).public_base_url or str(conn.base_url)).rstrip("/")


AssetsDep = Annotated[AssetStore, Depends(get_assets)]
BaseUrlDep = Annotated[str, Depends(get_base_url)]


def check_asset(row: AssetRow | None, principal: Principal, asset_id: str) -> AssetRow:
    """The caller's asset (an admin: anyone's); 404 alike for unknown and another key's."""
    if row is None or not visible(principal, row.owner):
        raise NotFound(f"no asset {asset_id!r}")
    return row
