"""The SQL of one group-committed batch of job writes (api.jobs.group_commit), and where SQLite runs it.

`write_rows` is the batch as one transaction's statements on a synchronous connection: the store runs it
through `AsyncConnection.run_sync` (PostgreSQL: asyncpg round trips, no thread) or, for a SQLite file, with
`SqliteWriter`. aiosqlite hands every statement to its own thread and waits for the GIL back (0.15 ms idle,
0.7 ms and more while the event loop is busy): a batch was 8 such hops. A WAL commit without fsync
(`synchronous=NORMAL`) costs less than one hop, so `SqliteWriter` runs the whole transaction on the event
loop, on a plain sqlite3 connection that never waits for a lock; only when another connection holds the
write lock (the webhook store, the CLI, another process) does it run in a worker thread with the usual busy
timeout, so the loop never blocks on a lock.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Delete,
    Engine,
    Table,
    Update,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from api.jobs.state import Job


@dataclass(frozen=True)
class RowWrite:
    """One job's write, its values taken on the event loop (a worker thread never reads a live Job)."""

    kind: str  # "insert": a new row; "save": its current state (the row is added if missing)
    prompt_id: str
    terminal: bool
    values: dict[str, Any]
    outputs: list[dict[str, Any]]


def write_rows(conn: Connection, writes: list[RowWrite], jobs: Table, outputs: Table, active: Any) -> None:
    """One multi-row INSERT for new jobs, one UPDATE per saved job (its last state in the batch), the
    outputs of all of them rewritten with one DELETE and one INSERT."""
    inserts = [w for w in writes if w.kind == "insert"]
    saves = list({w.prompt_id: w for w in writes if w.kind == "save"}.values())
    written = list(inserts)
    if inserts:
        conn.execute(insert(jobs), [{"prompt_id": w.prompt_id, **w.values} for w in inserts])
    for w in saves:
        # A finished row never changes: a replica's stale copy of an unfinished job must not reopen it.
        target = _update(jobs, tuple(w.values), guarded=not w.terminal, active=tuple(active))
        params = {"_pid": w.prompt_id, **{f"_v_{name}": value for name, value in w.values.items()}}
        if conn.execute(target, params).rowcount:
            written.append(w)
        elif conn.scalar(select(jobs.c.prompt_id).where(jobs.c.prompt_id == w.prompt_id)) is None:
            conn.execute(insert(jobs), [{"prompt_id": w.prompt_id, **w.values}])  # a finished row stays
            written.append(w)
    if saves:
        conn.execute(_clear_outputs(outputs), {"_pids": [w.prompt_id for w in written]})
    rows = [row for w in written for row in w.outputs]
    if rows:
        conn.execute(insert(outputs), rows)


def write_key(write: tuple[str, Job]) -> tuple[str, str]:
    """What a queued write writes (its kind and job): a deferred save of a job queued once is enough, since
    the values are read as the batch commits."""
    return write[0], write[1].prompt_id


def output_values(job: Job) -> list[dict[str, Any]]:
    """The job_outputs rows of a job: what `/api/outputs` may serve, and to whom."""
    return [
        {
            "type": ref.type,
            "subfolder": ref.subfolder or "",
            "filename": ref.filename,
            "prompt_id": job.prompt_id,
            "owner": job.owner,
        }
        for ref in job.outputs
        if ref.filename
    ]


@functools.lru_cache(maxsize=16)
def _update(jobs: Table, names: tuple[str, ...], *, guarded: bool, active: tuple[str, ...]) -> Update:
    """The UPDATE of a job's row, built once with bound parameters: building it with the values each time
    (20 columns coerced, its cache key computed from them) cost more than executing it."""
    target = update(jobs).where(jobs.c.prompt_id == bindparam("_pid"))
    if guarded:
        target = target.where(jobs.c.status.in_(active))
    return target.values({name: bindparam(f"_v_{name}", type_=jobs.c[name].type) for name in names})


@functools.lru_cache(maxsize=4)
def _clear_outputs(outputs: Table) -> Delete:
    """The DELETE of the saved jobs' output rows, built once (an expanding IN list bound per batch)."""
    return delete(outputs).where(outputs.c.prompt_id.in_(bindparam("_pids", expanding=True)))


class SqliteWriter:
    """Runs a write transaction on a SQLite file: on the event loop when the write lock is free at once,
    else in a worker thread that waits for it (`busy_seconds`)."""

    def __init__(self, url: str, busy_seconds: float, on_connect: Callable[[Any, Any], None]) -> None:
        sync_url = make_url(url).set(drivername="sqlite")
        self._here = create_engine(sync_url, connect_args={"timeout": 0.0})
        self._there = create_engine(sync_url, connect_args={"timeout": busy_seconds})
        for engine in (self._here, self._there):
            event.listen(engine, "connect", on_connect)
        self._conn: Connection | None = None
        self.deferred = 0  # transactions that found the write lock taken (run in a thread)

    async def run(self, work: Callable[[Connection], None]) -> None:
        try:
            if self._conn is None:  # kept open: a pool checkout and its reset cost as much as the writes
                self._conn = self._here.connect()
            with self._conn.begin():
                work(self._conn)
            return
        except OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        self.deferred += 1  # rolled back: nothing of it was written
        await asyncio.to_thread(_transaction, self._there, work)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._here.dispose()
        self._there.dispose()


def _transaction(engine: Engine, work: Callable[[Connection], None]) -> None:
    with engine.begin() as conn:
        work(conn)


def is_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
