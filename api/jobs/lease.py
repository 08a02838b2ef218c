"""Leadership of one backend among gateway replicas: a lease in Redis that expires.

ComfyUI keeps ONE WebSocket per client id, and every replica shares the database's client id, so exactly one
replica may follow a backend's event stream: the holder of that backend's lease. `Lease` is `SET key owner
NX PX ttl`, renewed every `ttl / 3` and released (compare-and-delete, so a lease that expired and was taken
by another replica is never deleted by the old holder). A holder that dies stops renewing: another replica
takes the key once it expires, within `ttl` plus one `retry` interval.

`lead(lease, work)` runs `work` only while the lease is held: it waits for the lease, runs `work`, cancels it
the moment a renewal fails (the lease is lost: another replica may follow the stream now), and stands by
for the lease again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Extend or delete the key only while it still names us (atomically: another replica may hold it by now).
_IF_OURS = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call({}) end return 0"
_RENEW = _IF_OURS.format("'pexpire', KEYS[1], ARGV[2]")
_RELEASE = _IF_OURS.format("'del', KEYS[1]")


class Lease:
    """One key, one holder at a time; `ttl` seconds without renewal and it is free again."""

    def __init__(
        self, redis: Any, key: str, owner: str, *, ttl: float = 5.0, retry: float | None = None
    ) -> None:
        self.redis = redis  # a redis.asyncio.Redis
        self.key = key
        self.owner = owner
        self.ttl = ttl
        self.retry = retry if retry is not None else ttl / 3  # seconds between attempts while standing by
        self.held = False

    @property
    def _ttl_ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    async def acquire(self) -> bool:
        """Take the lease if it is free (or already ours); False when another replica holds it."""
        if await self.redis.set(self.key, self.owner, nx=True, px=self._ttl_ms):
            self.held = True
        else:
            self.held = await self.renew()
        return self.held

    async def renew(self) -> bool:
        """Extend our lease by `ttl`; False (and not held) when it expired or another replica holds it."""
        self.held = bool(await self.redis.eval(_RENEW, 1, self.key, self.owner, self._ttl_ms))
        return self.held

    async def release(self) -> bool:
        """Give the lease up (only if it is still ours), so a standby takes over at once."""
        self.held = False
        return bool(await self.redis.eval(_RELEASE, 1, self.key, self.owner))

    async def holder(self) -> str | None:
        value = await self.redis.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    async def wait(self) -> None:
        """Until the lease is ours (Redis errors are logged and retried)."""
        while True:
            try:
                if await self.acquire():
                    return
            except RedisError as exc:
                log.warning("lease %s: Redis unavailable (%s); retrying", self.key, exc)
            await asyncio.sleep(self.retry)

    async def keep(self) -> None:
        """Renew every `ttl / 3` s; returns once the lease is lost (not renewed within `ttl`)."""
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                if not await self.renew():
                    log.warning("lease %s lost: another replica holds it", self.key)
                    return
                renewed = time.monotonic()
            except RedisError as exc:
                # The key may still be ours; past ttl without a renewal another replica may have taken it.
                if time.monotonic() - renewed >= self.ttl:
                    self.held = False
                    log.warning("lease %s lost: not renewed for %.1f s (%s)", self.key, self.ttl, exc)
                    return
                log.info("lease %s: renewal failed (%s); retrying", self.key, exc)


async def lead(
    lease: Lease,
    work: Callable[[], Awaitable[None]],
    *,
    on_change: Callable[[bool], None] | None = None,
) -> None:
    """Forever: wait for the lease, run `work` while it is held (cancelled when the lease is lost), release.

    `on_change(True)` right after the lease is taken, `on_change(False)` once `work` was stopped.
    Cancelling `lead` releases the lease, so a standby replica takes over without waiting for `ttl`.
    """
    while True:
        await lease.wait()
        log.info("lease %s taken by %s: following the backend", lease.key, lease.owner)
        if on_change is not None:
            on_change(True)
        task = asyncio.create_task(_run(work), name=f"lease-work:{lease.key}")
        keeper = asyncio.create_task(lease.keep(), name=f"lease-keep:{lease.key}")
        try:
            await asyncio.wait({task, keeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (task, keeper):
                t.cancel()
            for t in (task, keeper):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            if on_change is not None:
                on_change(False)
            with contextlib.suppress(RedisError, OSError):
                await asyncio.shield(lease.release())
        await asyncio.sleep(lease.retry)


async def _run(work: Callable[[], Awaitable[None]]) -> None:
    try:
        await work()
    except Exception:  # the lease is released and taken again: the work starts over
        log.exception("the work of the lease holder failed")
