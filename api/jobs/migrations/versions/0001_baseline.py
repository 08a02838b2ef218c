"""Baseline: the job database as the gateway wrote it before migrations.

Jobs (with owner and idempotency columns), API keys, outputs, uploads, generation-run owners, webhook
deliveries and meta.

On an empty database it creates every table. On a database written by an older gateway (no alembic_version
yet) it adds only what that file lacks: missing tables, missing (nullable) columns, missing indexes; and when
it creates `job_outputs` beside existing jobs, it fills it from the jobs' own output lists (owner unknown:
those files stay admin-only), which is what the gateway did before migrations.

The tables below are a frozen copy of the schema at this revision, not the live models: later revisions
change the schema, this one must keep producing the same thing.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

log = logging.getLogger("api.jobs.migrations")

schema = sa.MetaData()

sa.Table(
    "jobs",
    schema,
    sa.Column("prompt_id", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("client_id", sa.String(64), nullable=True),
    sa.Column("number", sa.Float, nullable=True),
    sa.Column("request", sa.JSON, nullable=True),
    sa.Column("workflow", sa.JSON, nullable=False),
    sa.Column("extra_data", sa.JSON, nullable=True),
    sa.Column("progress", sa.Float, nullable=False),
    sa.Column("current_node", sa.JSON, nullable=True),
    sa.Column("outputs", sa.JSON, nullable=False),
    sa.Column("error", sa.JSON, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("idempotency_key", sa.String(320), nullable=True, unique=True),
    sa.Column("request_hash", sa.String(64), nullable=True),
    sa.Column("owner", sa.String(64), nullable=True, index=True),
)
sa.Table(
    "gateway_meta",
    schema,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)
sa.Table(
    "api_keys",
    schema,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True, index=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
)
sa.Table(
    "job_outputs",
    schema,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("subfolder", sa.String(512), nullable=False),
    sa.Column("filename", sa.String(512), nullable=False, index=True),
    sa.Column("prompt_id", sa.String(64), nullable=False, index=True),
    sa.Column("owner", sa.String(64), nullable=True),
)
sa.Table(
    "uploads",
    schema,
    sa.Column("type", sa.String(16), primary_key=True),
    sa.Column("subfolder", sa.String(512), primary_key=True),
    sa.Column("name", sa.String(512), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)
sa.Table(
    "generation_run_owners",
    schema,
    sa.Column("thread_id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)
sa.Table(
    "webhook_deliveries",
    schema,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("prompt_id", sa.String(64), nullable=False, index=True),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.JSON, nullable=False),
    sa.Column("attempt_count", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("next_at", sa.Float, nullable=False),
)


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    for table in schema.sorted_tables:
        if table.name not in existing:
            table.create(bind)
        else:
            _complete(bind, table)
    if "jobs" in existing and "job_outputs" not in existing:
        _fill_outputs(bind)


def _complete(bind: sa.Connection, table: sa.Table) -> None:
    """Add the nullable columns and the indexes an older gateway's table lacks (NOT NULL columns were all
    there from the first version)."""
    inspector = sa.inspect(bind)
    present = {c["name"] for c in inspector.get_columns(table.name)}
    for column in table.columns:
        if column.name in present or not column.nullable:
            continue
        op.add_column(table.name, sa.Column(column.name, column.type, nullable=True))
        if column.unique:
            # SQLite cannot add a UNIQUE column; a unique index (the name older gateways used) is the same.
            op.create_index(f"uq_{table.name}_{column.name}", table.name, [column.name], unique=True)
        log.info("job database: added column %s.%s", table.name, column.name)
    indexes = {i["name"] for i in sa.inspect(bind).get_indexes(table.name)}
    for index in table.indexes:
        if index.name not in indexes:
            op.create_index(str(index.name), table.name, [c.name for c in index.columns], unique=index.unique)


def _fill_outputs(bind: sa.Connection) -> None:
    jobs, outputs = schema.tables["jobs"], schema.tables["job_outputs"]
    rows: list[dict[str, Any]] = []
    for prompt_id, recorded in bind.execute(sa.select(jobs.c.prompt_id, jobs.c.outputs)).all():
        for out in recorded or []:
            if isinstance(out, dict) and out.get("filename"):
                rows.append(
                    {
                        "type": str(out.get("type") or "output"),
                        "subfolder": str(out.get("subfolder") or ""),
                        "filename": str(out["filename"]),
                        "prompt_id": prompt_id,
                        "owner": None,
                    }
                )
    if rows:
        bind.execute(sa.insert(outputs), rows)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(schema.sorted_tables):
        table.drop(bind, checkfirst=True)
