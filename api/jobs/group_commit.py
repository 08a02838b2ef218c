"""Group commit: writes from many tasks, committed together by one writer.

Every job write used to be its own transaction, and each transaction several round trips to the database
driver (with SQLite, to aiosqlite's thread: each one waits for the GIL back, about 0.6 ms under load). Here a
caller queues its write and waits; one writer task takes every write queued while the previous transaction
ran and commits them as one. One caller alone waits for one transaction, as before; 32 callers at once share
a few. The writer reads a job's values as it writes them, so the last write of a job holds its newest state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class GroupCommit(Generic[T]):
    """Queue items for `flush` (one transaction for a list of items); `write` returns once its item is
    committed, or raises what committing it alone raised.

    A batch that fails is retried one item at a time, so one bad item (a taken unique key) fails only its
    own caller. The writer task lives while there is work: it starts with the first write and ends when the
    queue is empty (nothing to stop at shutdown, no task bound to a finished event loop).
    """

    def __init__(self, flush: Callable[[list[T]], Awaitable[None]], *, max_batch: int = 256) -> None:
        self._flush = flush
        self.max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed (or tried): how much the grouping saved, for tests

    async def write(self, item: T) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)  # a cancelled caller's failed write is not "never retrieved"
        self._queue.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._run(), name="group-commit")
        # The write goes on if the caller is cancelled: it was asked for, and it must not be torn mid-batch.
        await asyncio.shield(future)

    async def _run(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            self.batches += 1
            try:
                await self._flush([item for item, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc)
                    continue
                # Nothing of the failed transaction was written: each item alone, so each gets its answer.
                for item, future in batch:
                    try:
                        await self._flush([item])
                    except Exception as one:
                        _settle(future, one)
                    else:
                        _settle(future, None)
                continue
            except BaseException:  # cancelled (the event loop is closing): no waiter may hang
                for _, future in [*batch, *self._queue]:
                    _settle(future, asyncio.CancelledError())
                self._queue = []
                raise
            for _, future in batch:
                _settle(future, None)


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
