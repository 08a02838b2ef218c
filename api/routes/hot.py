"""Async twins of the dependencies the hot routes (a job's status, the queue, a submit) use.

FastAPI runs a plain `def` dependency in a worker thread: a thread hop per dependency per request, which on
a status poll costs more than the read itself. These call the very same functions (the same checks, the same
app state) on the event loop. `api.routes.fast_reads` calls them too, for the reads it answers without
FastAPI's routing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from api.auth import Principal
from api.auth.deps import require_scope
from api.deps import get_catalog, get_jobs, get_settings
from api.jobs.service import JobService
from api.settings import Settings
from node_catalog import Catalog

_require_read = require_scope("read")
_require_submit = require_scope("submit")


async def read_access(conn: HTTPConnection) -> Principal:
    return _require_read(conn)


async def submit_access(conn: HTTPConnection) -> Principal:
    return _require_submit(conn)


async def catalog_of(conn: HTTPConnection) -> Catalog:
    return get_catalog(conn)


async def jobs_of(conn: HTTPConnection) -> JobService:
    return get_jobs(conn)


async def settings_of(conn: HTTPConnection) -> Settings:
    return get_settings(conn)


ReadAccess = Annotated[Principal, Depends(read_access)]
SubmitAccess = Annotated[Principal, Depends(submit_access)]
CatalogDep = Annotated[Catalog, Depends(catalog_of)]
JobsDep = Annotated[JobService, Depends(jobs_of)]
SettingsDep = Annotated[Settings, Depends(settings_of)]
