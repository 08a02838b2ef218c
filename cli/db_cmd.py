"""`comfy-gateway db`: the job database's schema (Alembic revisions in api/jobs/migrations).

The gateway upgrades its database itself when it starts (every replica may; on PostgreSQL they take turns).
These commands are for operators who migrate before rolling out (a Kubernetes init job, say) and for
developers writing the next revision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import typer
from alembic import command
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from api.jobs import migrations
from api.redaction import redact
from api.settings import Settings

app = typer.Typer(no_args_is_help=True, help="The job database's schema migrations (DATABASE_URL).")
T = TypeVar("T")


def _on_database(action: Callable[[Connection], T]) -> T:
    async def run() -> T:
        engine = create_async_engine(Settings().database_url)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(action)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Bring the database to a revision (an older gateway's SQLite file is adopted in place)."""
    _on_database(lambda conn: migrations.upgrade(conn, revision))
    typer.echo(f"{redact(Settings().database_url)} is at {revision}")


@app.command("current")
def current() -> None:
    """The database's revision and the newest one shipped."""
    at = _on_database(migrations.current)
    typer.echo(f"database: {at or 'none (empty, or made before migrations)'}\nhead: {migrations.head()}")


@app.command("revision")
def revision(
    message: str = typer.Option(..., "--message", "-m", help="What the revision changes"),
    autogenerate: bool = typer.Option(
        True, help="Fill it from the models' differences with the database (brought to head first)"
    ),
) -> None:
    """Write a new revision file into api/jobs/migrations/versions (for developers)."""

    def write(conn: Connection) -> None:
        if autogenerate:
            migrations.upgrade(conn)
        command.revision(migrations.alembic_config(conn), message=message, autogenerate=autogenerate)

    _on_database(write)
