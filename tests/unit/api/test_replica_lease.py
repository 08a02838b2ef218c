"""The backend lease replicas elect their event follower with (api.jobs.lease), against a real Redis:
one holder at a time, renewal keeps it, expiry frees it, only the holder can extend or delete it, and
`lead` runs the work only while the lease is held. Skipped without TEST_REDIS_URL."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from api.jobs.lease import Lease, lead

pytestmark = pytest.mark.redis


@pytest.fixture()
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def key() -> str:
    return f"comfy-gateway:test:{uuid.uuid4().hex}:lease:http://backend"


async def test_one_holder_and_only_the_holder_renews_or_releases(redis: Redis) -> None:
    k = key()
    a, b = Lease(redis, k, "a", ttl=2.0), Lease(redis, k, "b", ttl=2.0)
    assert await a.acquire() and a.held
    assert not await b.acquire() and not b.held
    assert await a.acquire()  # taking it again is renewing it
    assert not await b.renew()  # compare-and-extend: not b's
    assert not await b.release()  # compare-and-delete: b cannot free a's lease
    assert await b.holder() == "a"
    assert await a.release() and not a.held
    assert await redis.get(k) is None
    assert await b.acquire() and await a.holder() == "b"
    await b.release()


async def test_an_unrenewed_lease_expires_and_the_old_holder_cannot_take_it_back(redis: Redis) -> None:
    k = key()
    a, b = Lease(redis, k, "a", ttl=0.3), Lease(redis, k, "b", ttl=0.3)
    assert await a.acquire()
    await asyncio.sleep(0.45)  # a died: no renewal
    assert await b.acquire()
    assert not await a.renew()  # a woke up: its lease is gone, b's is untouched
    assert not await a.release()
    assert await b.holder() == "b"
    await b.release()


async def test_keep_renews_until_the_lease_is_taken_away(redis: Redis) -> None:
    k = key()
    a = Lease(redis, k, "a", ttl=0.3)
    assert await a.acquire()
    keeper = asyncio.create_task(a.keep())
    await asyncio.sleep(1.0)  # three ttls: renewed all along
    assert not keeper.done() and await a.holder() == "a"
    await redis.set(k, "b", px=2000)  # another replica holds it now (say a was partitioned)
    await asyncio.wait_for(keeper, 1.0)
    assert not a.held
    await redis.delete(k)


async def test_lead_hands_the_work_over_within_the_ttl_when_the_holder_dies(redis: Redis) -> None:
    """Two replicas: the first leads; when it stops renewing (killed) the second runs the work within
    ttl + retry; a cancelled leader releases at once."""
    k = key()
    running: list[str] = []

    def work(name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            running.append(name)
            await asyncio.Event().wait()

        return run

    a, b = Lease(redis, k, "a", ttl=0.6, retry=0.1), Lease(redis, k, "b", ttl=0.6, retry=0.1)
    leading: dict[str, bool] = {}
    task_a = asyncio.create_task(lead(a, work("a"), on_change=lambda v: leading.__setitem__("a", v)))
    await asyncio.sleep(0.2)
    task_b = asyncio.create_task(lead(b, work("b"), on_change=lambda v: leading.__setitem__("b", v)))
    await asyncio.sleep(0.8)
    assert running == ["a"] and leading == {"a": True}
    # a is SIGKILLed: it stops without releasing, its key is left to expire.
    a.release = lambda: asyncio.sleep(0, result=False)  # type: ignore[method-assign]
    await redis.set(k, "a", xx=True, px=600)  # its last renewal
    killed_at = time.monotonic()
    task_a.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task_a
    while running != ["a", "b"]:
        assert time.monotonic() - killed_at < 2.0, "b did not take over"
        await asyncio.sleep(0.02)
    assert time.monotonic() - killed_at >= 0.4  # not before the lease expired
    assert leading["b"] is True
    task_b.cancel()  # a clean stop releases the lease
    with contextlib.suppress(asyncio.CancelledError):
        await task_b
    assert leading["b"] is False
    assert await redis.get(k) is None
