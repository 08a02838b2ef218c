"""Schema migrations of the job database, with Alembic.

`JobStore.open()` (and the webhook `DeliveryStore`) bring the database to the newest revision with
`upgrade(connection)` through `AsyncConnection.run_sync`: nothing creates tables outside a revision. The first
revision (`0001_baseline`) creates the schema on an empty database and also adopts a database written by a
gateway from before migrations (no `alembic_version` table): it adds the tables, columns and indexes such a
file lacks and keeps its rows, so an existing SQLite file upgrades in place. Later schema changes are new
files in `versions/` (`python -m api.jobs.migrations revision -m "..."` writes one).

On PostgreSQL the upgrade holds a transaction-scoped advisory lock, so replicas starting together run it one
after another (the later ones find the database at head and do nothing).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

SCRIPT_LOCATION = Path(__file__).resolve().parent
# Any constant works; it only has to be the same for every replica ("comfy-gw" in ASCII).
ADVISORY_LOCK_KEY = 0x636F6D66792D6777


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for our script directory (no alembic.ini: the package carries everything);
    `connection` is what `env.py` migrates."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision of the shipped scripts."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migration revisions under {SCRIPT_LOCATION / 'versions'}")
    return revision


def current(connection: Connection) -> str | None:
    """The revision the database is at (None: empty, or made before migrations existed)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Migrate the database behind `connection` (inside its transaction) to `revision`."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    command.upgrade(alembic_config(connection), revision)


def downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection), revision)
