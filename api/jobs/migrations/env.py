"""Alembic's environment: migrates the connection `api.jobs.migrations.upgrade` hands over.

Only online migrations on a given connection: the baseline revision inspects the database (to adopt one made
before migrations), which offline SQL generation cannot do.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from api.jobs.store import Base
from api.v2.store import Base as AssetBase
from api.webhooks import DeliveryRow

# The models, for `revision --autogenerate` (what a new revision must change to match them).
target_metadata = [Base.metadata, DeliveryRow.metadata, AssetBase.metadata]


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters tables by copying them ("batch" mode); other databases alter in place.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    raise RuntimeError("comfy-gateway migrations run on a connection: use api.jobs.migrations.upgrade()")
run(connection)
