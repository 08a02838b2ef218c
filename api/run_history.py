"""Checkpoints of generation runs: one SQLite saver for the app, bounded to the newest `keep` runs.

The lifespan opens ONE `PruningSqliteSaver` on `settings.checkpoint_db` (closed at shutdown) and the
generation routes hand it to every `pipeline.Generator` they build, so each run (a LangGraph thread) is
checkpointed under its `thread_id`: `GET /api/workflow/generate/{thread_id}` reads it back and
`Generator.resume` can continue it.

Pruning policy: whenever a new run writes its first checkpoint, every run but the newest `keep` ones (by
the time of their latest checkpoint) is deleted, checkpoints and pending writes alike. The database thus
holds at most `keep` runs (+ the ones started concurrently), whatever the traffic; SQLite reuses the freed
pages, so the file stops growing once that many runs have been recorded.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

log = logging.getLogger(__name__)


class PruningSqliteSaver(AsyncSqliteSaver):
    """AsyncSqliteSaver that keeps only the newest `keep` threads (see the module docstring)."""

    def __init__(self, conn: aiosqlite.Connection, *, keep: int) -> None:
        if keep < 1:
            raise ValueError(f"checkpoint_keep must be at least 1, got {keep}")
        super().__init__(conn)
        self.keep = keep

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        saved = await super().aput(config, checkpoint, metadata, new_versions)
        # A run's first checkpoint records its input: a new thread, the moment the bound can be exceeded.
        if metadata.get("source") == "input":
            try:
                await self.prune_old()
            except aiosqlite.Error:  # never fail a generation over housekeeping; the next run retries
                log.exception("pruning generation checkpoints failed")
        return saved

    async def prune_old(self) -> int:
        """Delete every thread but the newest `keep`; returns how many were deleted."""
        await self.setup()
        async with self.lock:
            # checkpoint ids are UUIDv6: they sort by creation time.
            async with self.conn.execute(
                "SELECT thread_id FROM checkpoints GROUP BY thread_id "
                "ORDER BY MAX(checkpoint_id) DESC LIMIT -1 OFFSET ?",
                (self.keep,),
            ) as cur:
                old = [str(row[0]) for row in await cur.fetchall()]
            if not old:
                return 0
            for start in range(0, len(old), 500):  # SQLite bounds the number of parameters
                chunk = old[start : start + 500]
                marks = ",".join("?" * len(chunk))
                await self.conn.execute(f"DELETE FROM checkpoints WHERE thread_id IN ({marks})", chunk)
                await self.conn.execute(f"DELETE FROM writes WHERE thread_id IN ({marks})", chunk)
            await self.conn.commit()
        log.debug("pruned %d generation run(s) from the checkpoint database", len(old))
        return len(old)

    async def thread_ids(self) -> list[str]:
        """Recorded runs, newest first."""
        await self.setup()
        async with (
            self.lock,
            self.conn.execute(
                "SELECT thread_id FROM checkpoints GROUP BY thread_id ORDER BY MAX(checkpoint_id) DESC"
            ) as cur,
        ):
            return [str(row[0]) for row in await cur.fetchall()]

    async def run(self, thread_id: str) -> dict[str, Any] | None:
        """The latest recorded state of a run and when it started/was last updated; None if unknown."""
        config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        latest = await self.aget_tuple(config)
        if latest is None:
            return None
        count = 0
        first_ts = latest.checkpoint["ts"]
        async for item in self.alist(config):
            count += 1
            first_ts = min(first_ts, item.checkpoint["ts"])
        values = {
            k: v for k, v in latest.checkpoint.get("channel_values", {}).items() if not k.startswith("__")
        }
        return {
            "values": values,
            "checkpoints": count,
            "started_at": _epoch(first_ts),
            "updated_at": _epoch(latest.checkpoint["ts"]),
            "step": latest.metadata.get("step"),
        }


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts).timestamp()


@asynccontextmanager
async def open_checkpoints(path: Path, *, keep: int) -> AsyncIterator[PruningSqliteSaver]:
    """Open (and create) the checkpoint database; prune it to `keep` runs at once (`keep` may have shrunk)."""
    target = str(path)
    if target != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(target) as conn:
        saver = PruningSqliteSaver(conn, keep=keep)
        await saver.setup()
        await saver.prune_old()
        yield saver
