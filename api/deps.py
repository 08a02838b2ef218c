"""FastAPI dependencies shared by every router: `Annotated` aliases over what the lifespan opened."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from api.checkpoints import PruningSqliteSaver
from api.jobs.service import JobService
from api.settings import Settings
from comfyui_client import ComfyClient
from node_catalog import Catalog


def _state(conn: HTTPConnection, name: str) -> Any:
    value = getattr(conn.app.state, name, None)
    if value is None:
        raise RuntimeError(f"app.state.{name} is not set: the app's lifespan did not run")
    return value


def get_settings(conn: HTTPConnection) -> Settings:
    settings: Settings = _state(conn, "settings")
    return settings


def get_client(conn: HTTPConnection) -> ComfyClient:
    client: ComfyClient = _state(conn, "client")
    return client


def get_catalog(conn: HTTPConnection) -> Catalog:
    catalog: Catalog = _state(conn, "catalog")
    return catalog


def get_jobs(conn: HTTPConnection) -> JobService:
    jobs: JobService = _state(conn, "jobs")
    return jobs


def get_checkpoints(conn: HTTPConnection) -> PruningSqliteSaver:
    saver: PruningSqliteSaver = _state(conn, "checkpoints")
    return saver


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientDep = Annotated[ComfyClient, Depends(get_client)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
JobsDep = Annotated[JobService, Depends(get_jobs)]
CheckpointsDep = Annotated[PruningSqliteSaver, Depends(get_checkpoints)]
