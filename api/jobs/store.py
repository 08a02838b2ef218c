"""The job database: one row per submission (SQLAlchemy 2 async; SQLite file by default, any async URL).

A job's row is written in one transaction, so a job is either fully recorded or absent; concurrent job writes
share one (api.jobs.group_commit, api.jobs.batch_writes). Timestamps are epoch seconds (floats) so every
backend stores them the same way.
"""

from __future__ import annotations

import uuid
from functools import partial
from pathlib import Path
from time import time
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, case, event, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from api.jobs import migrations
from api.jobs.batch_writes import RowWrite, SqliteWriter, is_sqlite_file, output_values, write_key, write_rows
from api.jobs.group_commit import GroupCommit
from api.jobs.state import Job, JobError, JobStatus
from comfyui_client import OutputRef

ACTIVE = (JobStatus.SUBMITTING.value, JobStatus.PENDING.value, JobStatus.RUNNING.value)


class JobStoreError(Exception):
    """A job could not be written (database locked past its busy timeout, read-only, disk full ...)."""


class IdempotencyKeyTaken(JobStoreError):
    """Another job already holds this Idempotency-Key (a concurrent request with the same key won)."""


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    __tablename__ = "jobs"

    prompt_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(32), default="workflow")
    status: Mapped[str] = mapped_column(String(16), index=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    number: Mapped[float | None] = mapped_column(Float, nullable=True)
    request: Mapped[Any] = mapped_column(JSON, nullable=True)
    workflow: Mapped[Any] = mapped_column(JSON)
    extra_data: Mapped[Any] = mapped_column(JSON, nullable=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    current_node: Mapped[Any] = mapped_column(JSON, nullable=True)
    outputs: Mapped[Any] = mapped_column(JSON, default=list)
    error: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Idempotency (issue 12): the caller-scoped key, unique, and the hash of the body first sent with it.
    idempotency_key: Mapped[str | None] = mapped_column(String(320), nullable=True, unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # A cancel or timeout asked of ComfyUI, not confirmed yet: {"status", "error"} (kept across restarts).
    end_request: Mapped[Any] = mapped_column(JSON, nullable=True)
    # The API key name that created the job (None: made while the gateway ran open, or by an old version).
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # The fleet backend running it (issue 13) and how often it was resubmitted after a lost run.
    backend: Mapped[str | None] = mapped_column(String(128), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class MetaRow(Base):
    """Key/value facts about this gateway database (its stable ComfyUI client id)."""

    __tablename__ = "gateway_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class ApiKeyRow(Base):
    """An API key: only its sha256 is stored. Revoked keys stay (names are never reused: jobs keep owners)."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class OutputRow(Base):
    """A file recorded as an output of a job: what `/api/outputs` may serve, and to whom."""

    __tablename__ = "job_outputs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(16))
    subfolder: Mapped[str] = mapped_column(String(512), default="")
    filename: Mapped[str] = mapped_column(String(512), index=True)
    prompt_id: Mapped[str] = mapped_column(String(64), index=True)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)


class UploadRow(Base):
    """An input file uploaded through the gateway, and the key that uploaded it."""

    __tablename__ = "uploads"

    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    subfolder: Mapped[str] = mapped_column(String(512), primary_key=True)
    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class RunOwnerRow(Base):
    """The key that started a generation run (its checkpoints live in the checkpoint database)."""

    __tablename__ = "generation_run_owners"

    thread_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


def _to_row_values(job: Job) -> dict[str, Any]:
    return {
        "source": job.source,
        "status": job.status.value,
        "client_id": job.client_id,
        "number": job.number,
        "request": job.request,
        "workflow": job.workflow,
        "extra_data": job.extra_data,
        "progress": job.progress,
        "current_node": job.current_node,
        "outputs": [o.to_dict() for o in job.outputs],
        "error": job.error.to_dict() if job.error else None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "idempotency_key": job.idempotency_key,
        "request_hash": job.request_hash,
        "end_request": (
            {"status": job.end_requested.value, "error": job.end_reason.to_dict() if job.end_reason else None}
            if job.end_requested is not None
            else None
        ),
        "owner": job.owner,
        "backend": job.backend,
        "attempts": job.attempts,
    }


def _from_row(row: JobRow) -> Job:
    end = row.end_request if isinstance(row.end_request, dict) else {}
    return Job(
        prompt_id=row.prompt_id,
        workflow=row.workflow or {},
        status=JobStatus(row.status),
        source=row.source,
        request=row.request,
        extra_data=row.extra_data,
        client_id=row.client_id,
        number=row.number,
        progress=row.progress or 0.0,
        current_node=row.current_node,
        outputs=[OutputRef.from_dict(o) for o in row.outputs or []],
        error=JobError.from_dict(row.error) if row.error else None,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        idempotency_key=row.idempotency_key,
        request_hash=row.request_hash,
        end_requested=JobStatus(end["status"]) if end.get("status") else None,
        end_reason=JobError.from_dict(end["error"]) if end.get("error") else None,
        owner=row.owner,
        backend=row.backend,
        attempts=row.attempts or 0,
    )


SQLITE_BUSY_SECONDS = 30.0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


async def open_database(url: str) -> tuple[AsyncEngine, async_sessionmaker[Any]]:
    """An engine and a session factory on the job database, its schema migrated to head (the job store and the
    webhook deliveries share the database and this one way to open it)."""
    parsed = make_url(url)
    if is_sqlite_file(url):
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        # The tracker and the request handlers write concurrently; on a loaded machine a writer can wait
        # past sqlite's 5 s default and fail with "database is locked". WAL lets readers run beside the
        # writer, and a longer busy timeout lets writers queue instead of failing.
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        engine = create_async_engine(url)
    # The schema is Alembic's: an empty database gets every revision, an older one the missing ones.
    async with engine.begin() as conn:
        await conn.run_sync(migrations.upgrade)
    return engine, async_sessionmaker(engine, expire_on_commit=False)


class Database:
    """A handle on the job database: `open` (migrated to head), sessions, `close`. The job store and the
    webhook deliveries each hold one (their own engine; WAL lets both write)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[Any] | None = None

    async def open(self) -> None:
        self._engine, self._sessions = await open_database(self.url)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    def _session(self) -> Any:
        if self._sessions is None:
            raise RuntimeError(f"{type(self).__name__}.open() was not awaited")
        return self._sessions()


class JobStore(Database):
    """Async access to the jobs table."""

    # Key writes through this handle: the key cache (api/auth/keys.py) reloads at once after one.
    key_writes = 0

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._commits: GroupCommit[tuple[str, Job]] = GroupCommit(self._flush, key=write_key)  # every write
        self._sqlite: SqliteWriter | None = None  # a SQLite file: its writes run on the event loop

    async def open(self) -> None:
        await super().open()
        if is_sqlite_file(self.url):
            self._sqlite = SqliteWriter(self.url, SQLITE_BUSY_SECONDS, _sqlite_pragmas)

    async def close(self) -> None:
        await self._commits.settle()
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        await super().close()

    async def client_id(self) -> str:
        """The ComfyUI client id of this database, created once: after a restart, events keep coming to us."""
        async with self._session() as session, session.begin():
            row = await session.get(MetaRow, "client_id")
            if row is None:
                row = MetaRow(key="client_id", value=str(uuid.uuid4()))
                session.add(row)
            return str(row.value)

    async def insert(self, job: Job) -> None:
        """Add the job's row; `IdempotencyKeyTaken` when its Idempotency-Key is already used."""
        try:
            await self._write(("insert", job))
        except JobStoreError as exc:
            if isinstance(exc.__cause__, IntegrityError) and job.idempotency_key is not None:
                raise IdempotencyKeyTaken(f"Idempotency-Key of job {job.prompt_id} is taken") from exc
            raise

    async def delete(self, prompt_id: str) -> None:
        """Remove a row written before its submission, when ComfyUI refused the job (nothing ran)."""
        async with self._session() as session, session.begin():
            row = await session.get(JobRow, prompt_id)
            if row is not None:
                await session.delete(row)

    async def by_idempotency_key(self, key: str) -> Job | None:
        async with self._session() as session:
            row = await session.scalar(select(JobRow).where(JobRow.idempotency_key == key))
            return _from_row(row) if row is not None else None

    async def release_idempotency_key(self, prompt_id: str) -> None:
        """Free the key of a job that never reached ComfyUI, so a retry with it submits anew."""
        async with self._session() as session, session.begin():
            await session.execute(
                update(JobRow).where(JobRow.prompt_id == prompt_id).values(idempotency_key=None)
            )

    async def save(self, job: Job) -> None:
        """Write the job's current state (a finished job's row never changes again: a replica's stale copy
        must not reopen it); the row is added if it is missing."""
        await self._write(("save", job))

    def save_behind(self, job: Job) -> None:
        """`save` that nobody waits for: with the next write, or within the group commit's linger."""
        self._commits.defer(("save", job))

    async def _write(self, write: tuple[str, Job]) -> None:
        """Through the group commit (api.jobs.group_commit); the seam where database errors become
        JobStoreError."""
        try:
            await self._commits.write(write)
        except (SQLAlchemyError, OSError) as exc:
            job = write[1]
            raise JobStoreError(f"could not write job {job.prompt_id} to {self.url}: {exc}") from exc

    async def _flush(self, writes: list[tuple[str, Job]]) -> None:
        """One transaction for every queued write (api.jobs.batch_writes), each job's values read now."""
        if self._engine is None:
            raise RuntimeError(f"{type(self).__name__}.open() was not awaited")
        rows = [
            RowWrite(kind, job.prompt_id, job.terminal, _to_row_values(job), output_values(job))
            for kind, job in writes
        ]
        tables = Base.metadata.tables
        work = partial(
            write_rows, writes=rows, jobs=tables["jobs"], outputs=tables["job_outputs"], active=ACTIVE
        )
        if self._sqlite is not None:
            await self._sqlite.run(work)
        else:
            async with self._engine.begin() as conn:
                await conn.run_sync(work)

    async def move_if(
        self, job: Job, *, backend: str | None, status: JobStatus, to_backend: str, to_status: JobStatus
    ) -> bool:
        """Compare-and-set a live job's place (api.fleet): the row moves only while it has the `backend` and
        `status` the mover read; False when another replica moved or settled it first."""
        same = JobRow.backend.is_(None) if backend is None else JobRow.backend == backend
        move = update(JobRow).where(JobRow.prompt_id == job.prompt_id, same, JobRow.status == status.value)
        try:  # not through the group commit: the mover needs this statement's own answer
            async with self._session() as session, session.begin():
                moved = await session.execute(
                    move.values(backend=to_backend, status=to_status.value),
                    execution_options={"synchronize_session": False},
                )
        except (SQLAlchemyError, OSError) as exc:
            raise JobStoreError(f"could not move job {job.prompt_id} in {self.url}: {exc}") from exc
        return bool(moved.rowcount)

    async def get(self, prompt_id: str) -> Job | None:
        async with self._session() as session:
            row = await session.get(JobRow, prompt_id)
            return _from_row(row) if row is not None else None

    async def active(self) -> list[Job]:
        async with self._session() as session:
            rows = (
                await session.scalars(
                    select(JobRow).where(JobRow.status.in_(ACTIVE)).order_by(JobRow.created_at)
                )
            ).all()
            return [_from_row(r) for r in rows]

    async def count_active(self, owner: str | None = None) -> tuple[int, int]:
        """(unfinished jobs, those of `owner`) in one query: quotas shared by replicas (api.limits)."""
        owned = func.count(case((JobRow.owner == owner, 1))) if owner is not None else func.sum(0)
        async with self._session() as session:
            row = (await session.execute(select(func.count(), owned).where(JobRow.status.in_(ACTIVE)))).one()
            return int(row[0]), int(row[1] or 0)

    async def recent(self, limit: int = 100) -> list[Job]:
        async with self._session() as session:
            rows = (
                await session.scalars(select(JobRow).order_by(JobRow.created_at.desc()).limit(limit))
            ).all()
            return [_from_row(r) for r in rows]

    # --- access: output, upload and generation-run owners; API keys ---------------------------------------

    async def output_owners(self, type: str, subfolder: str, filename: str) -> list[str | None]:
        """The owners of the jobs that recorded this file as an output (empty: never an output)."""
        async with self._session() as session:
            rows = await session.scalars(
                select(OutputRow.owner).where(
                    OutputRow.type == type, OutputRow.subfolder == subfolder, OutputRow.filename == filename
                )
            )
            return list(rows.all())

    async def upload_owner(self, type: str, subfolder: str, name: str) -> tuple[bool, str | None]:
        """(recorded, owner) of an input file uploaded through the gateway."""
        async with self._session() as session:
            row = await session.get(UploadRow, (type, subfolder, name))
            return (row is not None, row.owner if row is not None else None)

    async def record_upload(self, type: str, subfolder: str, name: str, owner: str | None) -> None:
        async with self._session() as session, session.begin():
            row = await session.get(UploadRow, (type, subfolder, name))
            if row is None:
                session.add(
                    UploadRow(type=type, subfolder=subfolder, name=name, owner=owner, created_at=time())
                )
            else:
                row.owner, row.created_at = owner, time()

    async def record_run(self, thread_id: str, owner: str | None) -> None:
        async with self._session() as session, session.begin():
            session.add(RunOwnerRow(thread_id=thread_id, owner=owner, created_at=time()))

    async def claim_run(self, thread_id: str, owner: str | None) -> bool:
        """Record a run under a chosen thread id; False when that id is recorded already (a replayed key)."""
        try:
            await self.record_run(thread_id, owner)
        except IntegrityError:
            return False
        return True

    async def run_created(self, thread_id: str) -> float | None:
        """When a generation run was recorded (epoch seconds), None if it is unknown."""
        async with self._session() as session:
            row = await session.get(RunOwnerRow, thread_id)
            return row.created_at if row is not None else None

    async def run_owner(self, thread_id: str) -> tuple[bool, str | None]:
        """(recorded, owner) of a generation run."""
        async with self._session() as session:
            row = await session.get(RunOwnerRow, thread_id)
            return (row is not None, row.owner if row is not None else None)

    async def add_key(self, name: str, key_hash: str, prefix: str, scopes: list[str]) -> None:
        """Record a new key; `ValueError` when the name is taken (also by a revoked key)."""
        async with self._session() as session, session.begin():
            if await session.get(ApiKeyRow, name) is not None:
                raise ValueError(
                    f"a key named {name!r} exists (or existed: names of revoked keys stay taken)"
                )
            session.add(
                ApiKeyRow(name=name, key_hash=key_hash, prefix=prefix, scopes=scopes, created_at=time())
            )
        self.key_writes += 1

    async def revoke_key(self, name: str) -> bool:
        """Revoke the named key; False when no active key has that name."""
        async with self._session() as session, session.begin():
            row = await session.get(ApiKeyRow, name)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = time()
        self.key_writes += 1
        return True

    async def keys(self) -> list[dict[str, Any]]:
        """Every key (revoked ones too), without hashes."""
        async with self._session() as session:
            rows = (await session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at))).all()
            return [
                {
                    "name": r.name,
                    "prefix": r.prefix,
                    "scopes": list(r.scopes or []),
                    "created_at": r.created_at,
                    "revoked_at": r.revoked_at,
                }
                for r in rows
            ]

    async def key_by_hash(self, key_hash: str) -> tuple[str, str, list[str]] | None:
        """(name, stored hash, scopes) of the active key with this hash."""
        async with self._session() as session:
            row = (
                await session.scalars(
                    select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None))
                )
            ).first()
            return (row.name, row.key_hash, list(row.scopes or [])) if row is not None else None

    async def key_generation(self) -> tuple[int, int]:
        """(keys made, keys revoked): rows are never deleted nor un-revoked, so the pair changes with every
        create and every revoke, whichever process made it: the key cache's cheap check."""
        async with self._session() as session:
            counts = select(func.count(), func.count(ApiKeyRow.revoked_at)).select_from(ApiKeyRow)
            row = (await session.execute(counts)).one()
            return (int(row[0]), int(row[1]))

    async def active_keys(self) -> dict[str, tuple[str, list[str]]]:
        """{stored hash: (name, scopes)} of every active key."""
        async with self._session() as session:
            rows = (await session.scalars(select(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None)))).all()
            return {r.key_hash: (r.name, list(r.scopes or [])) for r in rows}

    async def has_keys(self) -> bool:
        """Whether any active key exists (then every route needs one)."""
        async with self._session() as session:
            count = await session.scalar(
                select(func.count()).select_from(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))
            )
            return bool(count)
