"""The job database's schema comes from Alembic: a fresh database gets head, a database written by the
gateway before migrations upgrades in place and keeps its rows, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from api.jobs import migrations
from api.jobs.state import Job, JobStatus
from api.jobs.store import Base, IdempotencyKeyTaken, JobStore
from api.v2.store import Base as AssetBase
from api.webhooks import Delivery, DeliveryRow, DeliveryStore
from comfyui_client import OutputRef

TABLES = {
    "jobs",
    "gateway_meta",
    "api_keys",
    "job_outputs",
    "uploads",
    "generation_run_owners",
    "webhook_deliveries",
    "v2_assets",
}

# What the gateway's create_all wrote on SQLite just before migrations (JobStore + DeliveryStore, issue 12).
PREVIOUS_SQLITE_SCHEMA = """
CREATE TABLE jobs (prompt_id VARCHAR(64) NOT NULL, source VARCHAR(32) NOT NULL, status VARCHAR(16) NOT NULL,
    client_id VARCHAR(64), number FLOAT, request JSON, workflow JSON NOT NULL, extra_data JSON,
    progress FLOAT NOT NULL, current_node JSON, outputs JSON NOT NULL, error JSON, created_at FLOAT NOT NULL,
    started_at FLOAT, finished_at FLOAT, idempotency_key VARCHAR(320), request_hash VARCHAR(64),
    owner VARCHAR(64), PRIMARY KEY (prompt_id), UNIQUE (idempotency_key));
CREATE INDEX ix_jobs_status ON jobs (status);
CREATE INDEX ix_jobs_created_at ON jobs (created_at);
CREATE INDEX ix_jobs_owner ON jobs (owner);
CREATE TABLE gateway_meta ("key" VARCHAR(64) NOT NULL, value VARCHAR(256) NOT NULL, PRIMARY KEY ("key"));
CREATE TABLE api_keys (name VARCHAR(64) NOT NULL, key_hash VARCHAR(64) NOT NULL, prefix VARCHAR(16) NOT NULL,
    scopes JSON NOT NULL, created_at FLOAT NOT NULL, revoked_at FLOAT, PRIMARY KEY (name));
CREATE UNIQUE INDEX ix_api_keys_key_hash ON api_keys (key_hash);
CREATE TABLE job_outputs (id INTEGER NOT NULL, type VARCHAR(16) NOT NULL, subfolder VARCHAR(512) NOT NULL,
    filename VARCHAR(512) NOT NULL, prompt_id VARCHAR(64) NOT NULL, owner VARCHAR(64), PRIMARY KEY (id));
CREATE INDEX ix_job_outputs_prompt_id ON job_outputs (prompt_id);
CREATE INDEX ix_job_outputs_filename ON job_outputs (filename);
CREATE TABLE uploads (type VARCHAR(16) NOT NULL, subfolder VARCHAR(512) NOT NULL, name VARCHAR(512) NOT NULL,
    owner VARCHAR(64), created_at FLOAT NOT NULL, PRIMARY KEY (type, subfolder, name));
CREATE TABLE generation_run_owners (thread_id VARCHAR(64) NOT NULL, owner VARCHAR(64),
    created_at FLOAT NOT NULL, PRIMARY KEY (thread_id));
CREATE TABLE webhook_deliveries (id VARCHAR(64) NOT NULL, prompt_id VARCHAR(64) NOT NULL,
    url VARCHAR(2048) NOT NULL, event_type VARCHAR(32) NOT NULL, payload JSON NOT NULL,
    state VARCHAR(16) NOT NULL, attempts JSON NOT NULL, attempt_count INTEGER NOT NULL,
    created_at FLOAT NOT NULL, next_at FLOAT NOT NULL, PRIMARY KEY (id));
CREATE INDEX ix_webhook_deliveries_prompt_id ON webhook_deliveries (prompt_id);
CREATE INDEX ix_webhook_deliveries_state ON webhook_deliveries (state);
"""

# The first gateway's jobs table (issue 4): no owner, idempotency, outputs table, keys, uploads or webhooks.
FIRST_SQLITE_SCHEMA = """
CREATE TABLE jobs (prompt_id VARCHAR(64) PRIMARY KEY, source VARCHAR(32), status VARCHAR(16),
    client_id VARCHAR(64), number FLOAT, request JSON, workflow JSON, extra_data JSON, progress FLOAT,
    current_node JSON, outputs JSON, error JSON, created_at FLOAT, started_at FLOAT, finished_at FLOAT);
CREATE TABLE gateway_meta ("key" VARCHAR(64) NOT NULL, value VARCHAR(256) NOT NULL, PRIMARY KEY ("key"));
"""


def _schema_facts(conn: Connection) -> dict[str, Any]:
    """The revision, the tables, and how the database differs from the models (autogenerate's view)."""
    context = MigrationContext.configure(conn)
    # Both model sets at once (a sequence of MetaData, as env.py's target_metadata), so neither's tables
    # look like extras to the other.
    diffs = compare_metadata(context, [Base.metadata, DeliveryRow.metadata, AssetBase.metadata])  # type: ignore[arg-type]
    tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
    return {"revision": migrations.current(conn), "tables": tables, "diffs": diffs}


async def _facts(url: str) -> dict[str, Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_schema_facts)
    finally:
        await engine.dispose()


async def test_a_fresh_database_gets_head_and_matches_the_models(job_db_url: str) -> None:
    store = JobStore(job_db_url)
    await store.open()
    try:
        job = Job(prompt_id="p1", workflow={"1": {}}, idempotency_key="k", owner="alice")
        job.outputs.append(OutputRef(node_id="1", filename="a.png"))
        await store.insert(job)
        with pytest.raises(IdempotencyKeyTaken):
            await store.insert(Job(prompt_id="p2", workflow={}, idempotency_key="k"))
        assert await store.output_owners("output", "", "a.png") == ["alice"]
    finally:
        await store.close()
    facts = await _facts(job_db_url)
    assert facts["revision"] == migrations.head()
    assert facts["tables"] == TABLES
    assert facts["diffs"] == [], "the models changed without a migration revision"
    # Opening again (a restart, or the webhook store on the same database) changes nothing.
    deliveries = DeliveryStore(job_db_url)
    await deliveries.open()
    try:
        await deliveries.save(
            Delivery(id="d1", prompt_id="p1", url="https://x.test", event_type="t", payload={})
        )
        assert [d.id for d in await deliveries.pending()] == ["d1"]
    finally:
        await deliveries.close()
    assert (await _facts(job_db_url))["revision"] == migrations.head()


def _seed_previous(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.executescript(PREVIOUS_SQLITE_SCHEMA)
        outputs = json.dumps([{"node_id": "9", "filename": "a.png", "subfolder": "", "type": "output"}])
        conn.execute(
            "INSERT INTO jobs (prompt_id, source, status, workflow, progress, outputs, created_at, owner, "
            "idempotency_key) VALUES ('old', 'workflow', 'completed', '{}', 100, ?, 1.0, 'alice', 'alice:k')",
            (outputs,),
        )
        conn.execute(
            "INSERT INTO job_outputs (type, subfolder, filename, prompt_id, owner) "
            "VALUES ('output', '', 'a.png', 'old', 'alice')"
        )
        conn.execute("INSERT INTO gateway_meta VALUES ('client_id', 'cid-1')")
        conn.execute("INSERT INTO api_keys VALUES ('alice', 'h', 'cgw_ab', '[\"read\"]', 1.0, NULL)")


async def test_a_database_of_the_previous_version_upgrades_in_place(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    _seed_previous(db)
    url = f"sqlite+aiosqlite:///{db}"
    store = JobStore(url)
    await store.open()
    try:
        old = await store.get("old")
        assert old is not None and old.status is JobStatus.COMPLETED and old.owner == "alice"
        assert await store.client_id() == "cid-1"  # events keep coming to the same ComfyUI client id
        assert await store.output_owners("output", "", "a.png") == ["alice"]  # not filled twice
        assert [k["name"] for k in await store.keys()] == ["alice"]
        with pytest.raises(IdempotencyKeyTaken):
            await store.insert(Job(prompt_id="new", workflow={}, idempotency_key="alice:k"))
    finally:
        await store.close()
    facts = await _facts(url)
    assert facts["revision"] == migrations.head() and facts["tables"] == TABLES
    assert facts["diffs"] == []


async def test_the_first_versions_database_gets_what_it_lacks(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(FIRST_SQLITE_SCHEMA)
        outputs = json.dumps([{"node_id": "9", "filename": "b.png", "subfolder": "s", "type": "output"}])
        conn.execute(
            "INSERT INTO jobs (prompt_id, source, status, workflow, progress, outputs, created_at) "
            "VALUES ('first', 'workflow', 'completed', '{}', 100, ?, 1.0)",
            (outputs,),
        )
    url = f"sqlite+aiosqlite:///{db}"
    store = JobStore(url)
    await store.open()
    try:
        first = await store.get("first")
        assert first is not None and first.owner is None and first.idempotency_key is None
        assert await store.output_owners("output", "s", "b.png") == [None]  # filled from the job's own list
        await store.insert(Job(prompt_id="new", workflow={}, owner="bob", idempotency_key="bob:1"))
        with pytest.raises(IdempotencyKeyTaken):
            await store.insert(Job(prompt_id="again", workflow={}, idempotency_key="bob:1"))
    finally:
        await store.close()
    facts = await _facts(url)
    assert facts["revision"] == migrations.head() and facts["tables"] == TABLES
    with sqlite3.connect(db) as conn:
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"ix_jobs_owner", "ix_jobs_status", "uq_jobs_idempotency_key"} <= indexes


@pytest.mark.postgres
async def test_a_postgres_database_of_the_previous_version_upgrades_in_place(postgres_url: str) -> None:
    # The previous version ran create_all from the same models: do exactly that, with a job in it.
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(DeliveryRow.metadata.create_all)
            await conn.execute(
                text(
                    "INSERT INTO jobs (prompt_id, source, status, workflow, progress, outputs, created_at) "
                    "VALUES ('old', 'workflow', 'completed', '{}', 100, "
                    """'[{"filename": "a.png", "type": "output"}]', 1.0)"""
                )
            )
    finally:
        await engine.dispose()
    store = JobStore(postgres_url)
    await store.open()
    try:
        old = await store.get("old")
        assert old is not None and old.status is JobStatus.COMPLETED and old.outputs[0].filename == "a.png"
    finally:
        await store.close()
    facts = await _facts(postgres_url)
    assert facts["revision"] == migrations.head() and facts["diffs"] == []


@pytest.mark.postgres
async def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    stores = [JobStore(postgres_url) for _ in range(3)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        ids = {await s.client_id() for s in stores}
        assert len(ids) == 1
    finally:
        for s in stores:
            await s.close()
    assert (await _facts(postgres_url))["revision"] == migrations.head()


def test_downgrade_then_upgrade_again(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        with engine.begin() as conn:
            migrations.upgrade(conn)
            assert migrations.current(conn) == migrations.head()
            migrations.downgrade(conn, "base")
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
            assert migrations.current(conn) is None
            migrations.upgrade(conn)
            assert set(inspect(conn).get_table_names()) - {"alembic_version"} == TABLES
    finally:
        engine.dispose()


def test_db_command_line_upgrades_and_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cli.main import app as cli

    db = tmp_path / "cli.db"
    _seed_previous(db)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    runner = CliRunner()
    before = runner.invoke(cli, ["db", "current"])
    assert before.exit_code == 0 and "database: none" in before.output
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    after = runner.invoke(cli, ["db", "current"])
    assert f"database: {migrations.head()}" in after.output
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT owner FROM jobs WHERE prompt_id = 'old'").fetchone() == ("alice",)
