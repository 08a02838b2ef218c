"""FastAPI dependencies shared by every router: `Annotated` aliases over what the lifespan built once.

This is the one module that reads `app.state`; routes take these aliases and never reach into it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from api.fleet import Fleet
from api.generation_runtime import GenerationRuntime
from api.jobs.service import JobService
from api.jobs.store import JobStore
from api.model_index import ModelIndex
from api.settings import Settings
from comfyui_client import ComfyClient
from node_catalog import Catalog, CatalogProvider
from pipeline import TemplateLibrary

if TYPE_CHECKING:  # LangGraph loads with the first generation request (api.generation_runtime)
    from api.run_history import PruningSqliteSaver
    from pipeline import Generator


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


def get_fleet(conn: HTTPConnection) -> Fleet:
    """The backends (a fleet of one without COMFYUI_URLS); the first is the primary `ClientDep` talks to."""
    fleet: Fleet = _state(conn, "fleet")
    return fleet


def get_catalogs(conn: HTTPConnection) -> CatalogProvider:
    catalogs: CatalogProvider = _state(conn, "catalogs")
    return catalogs


def get_catalog(conn: HTTPConnection) -> Catalog:
    """The catalog the gateway serves now (refreshed by the provider, never fetched per request)."""
    return get_catalogs(conn).current()


def get_jobs(conn: HTTPConnection) -> JobService:
    jobs: JobService = _state(conn, "jobs")
    return jobs


def _generation(conn: HTTPConnection) -> GenerationRuntime:
    runtime: GenerationRuntime = _state(conn, "generation")
    return runtime


async def get_checkpoints(conn: HTTPConnection) -> PruningSqliteSaver:
    """The checkpoint saver of generation runs; one set on app.state (a test's) wins over the runtime's."""
    saver: PruningSqliteSaver | None = getattr(conn.app.state, "checkpoints", None)
    return saver if saver is not None else await _generation(conn).checkpoints()


def get_store(conn: HTTPConnection) -> JobStore:
    """The job database (owners of outputs, uploads and generation runs live beside the jobs)."""
    store: JobStore = _state(conn, "store")
    return store


def get_model_index(conn: HTTPConnection) -> ModelIndex:
    index: ModelIndex = _state(conn, "model_index")
    return index


def get_templates(conn: HTTPConnection) -> TemplateLibrary:
    templates: TemplateLibrary = _state(conn, "templates")
    return templates


async def get_generator(conn: HTTPConnection) -> Generator:
    """The app's one generator, built on the first generation request; one set on app.state wins."""
    generator: Generator | None = getattr(conn.app.state, "generator", None)
    return generator if generator is not None else await _generation(conn).generator()


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientDep = Annotated[ComfyClient, Depends(get_client)]
FleetDep = Annotated[Fleet, Depends(get_fleet)]
CatalogsDep = Annotated[CatalogProvider, Depends(get_catalogs)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
JobsDep = Annotated[JobService, Depends(get_jobs)]
ModelIndexDep = Annotated[ModelIndex, Depends(get_model_index)]
TemplatesDep = Annotated[TemplateLibrary, Depends(get_templates)]
StoreDep = Annotated[JobStore, Depends(get_store)]
if TYPE_CHECKING:
    CheckpointsDep = Annotated[PruningSqliteSaver, Depends(get_checkpoints)]
    GeneratorDep = Annotated[Generator, Depends(get_generator)]
else:  # FastAPI reads these at import time; the types load only with the first generation request
    CheckpointsDep = Annotated[Any, Depends(get_checkpoints)]
    GeneratorDep = Annotated[Any, Depends(get_generator)]
