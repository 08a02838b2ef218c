"""PostgreSQL and Redis for the tests: `scripts/services.sh start` runs them, and `make test` hands their URLs
to pytest as TEST_DATABASE_URL and TEST_REDIS_URL (not DATABASE_URL: that one is the gateway's own setting,
which every other test expects to be its SQLite default). Without them the tests that need one are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

POSTGRES_SKIP = "needs PostgreSQL: TEST_DATABASE_URL unset (make test sets it from scripts/services.sh start)"
REDIS_SKIP = "needs Redis: TEST_REDIS_URL unset (make test sets it from scripts/services.sh start)"


def postgres_admin_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


def redis_test_url() -> str | None:
    return os.environ.get("TEST_REDIS_URL") or None


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """The URL of a new, empty database on the test server, dropped afterwards (each test its own schema)."""
    admin = postgres_admin_url()
    if admin is None:
        raise RuntimeError(POSTGRES_SKIP)
    name = f"gw_test_{uuid.uuid4().hex[:16]}"
    # CREATE/DROP DATABASE cannot run inside a transaction.
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin).set(database=name).render_as_string(hide_password=False)
        finally:
            async with engine.connect() as conn:
                # FORCE: a test that failed may leave a pooled connection open.
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


@asynccontextmanager
async def job_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh job database URL of this kind ("sqlite" or "postgres")."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    else:
        async with fresh_postgres_database() as url:
            yield url
