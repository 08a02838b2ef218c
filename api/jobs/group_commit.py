"""Group commit: writes from many tasks, committed together by one writer.

Every job write used to be its own transaction, and each transaction several round trips to the database
driver (with SQLite, to aiosqlite's thread: each one waits for the GIL back, about 0.6 ms under load). Here a
caller queues its write and waits; one writer task takes every write queued while the previous transaction
ran and commits them as one. One caller alone waits for one transaction, as before; 32 callers at once share
a few. The writer reads a job's values as it writes them, so the last write of a job holds its newest state.

A write nobody needs to wait for (`defer`: a job's `pending`, `running`, progress rows, which its next write
or its end overwrites anyway) rides with the next transaction, or is committed on its own within `linger`
seconds: a job that starts and ends within that time is written once, not three times (issue 13).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
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

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[None]],
        *,
        max_batch: int = 256,
        linger: float = 0.25,
        key: Callable[[T], Hashable] | None = None,
    ) -> None:
        self._flush = flush
        self.max_batch = max_batch
        self.linger = linger  # seconds a deferred write waits for a transaction to ride with
        self._key = key  # items with equal keys write the same thing (a job's row): one deferred is enough
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        self._deferred: set[Hashable] = set()  # keys of the deferred items queued
        self._writer: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.batches = 0  # transactions committed (or tried): how much the grouping saved, for tests

    async def write(self, item: T) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)  # a cancelled caller's failed write is not "never retrieved"
        self._queue.append((item, future))
        self._start()
        # The write goes on if the caller is cancelled: it was asked for, and it must not be torn mid-batch.
        await asyncio.shield(future)

    def defer(self, item: T) -> None:
        """Queue a write nobody waits for: it is committed with the next transaction, or within `linger`
        seconds. A failure is logged (the item's next write, or its end, writes it again). Skipped when an
        item with the same key is deferred already (the writer reads the values as it commits)."""
        key = self._key(item) if self._key is not None else None
        if key is not None:
            if key in self._deferred:
                return
            self._deferred.add(key)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_logged)
        self._queue.append((item, future))
        if (self._writer is None or self._writer.done()) and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.linger, self._start)

    async def settle(self) -> None:
        """Commit every queued write now (the deferred ones included) and wait for it: before closing."""
        self._start()
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
            self._start()

    def _start(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._queue and (self._writer is None or self._writer.done()):
            self._writer = asyncio.create_task(self._run(), name="group-commit")

    async def _run(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            if self._key is not None and self._deferred:
                self._deferred.difference_update(self._key(item) for item, _ in batch)
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


def _logged(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.warning("a deferred write failed (written again with the item's next write): %r", exc)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
