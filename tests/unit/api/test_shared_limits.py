"""Limits shared by gateway replicas (issue 13): with REDIS_URL a caller's rate bucket is one, in Redis (not
one per replica), and unfinished jobs are counted from the job database (every replica's). Redis not
answering: each replica's own bucket decides, nothing is refused for it."""

from __future__ import annotations

import uuid

import pytest

from api.jobs import Job, JobStatus, JobStore
from api.limits import GatewayBusy, Limits, RateLimited


def limits(**kw: float) -> Limits:
    values = {"rate": 1.0, "burst": 3, "max_pending_per_key": 0, "max_pending_jobs": 0, **kw}
    return Limits(
        rate=float(values["rate"]),
        burst=int(values["burst"]),
        max_pending_per_key=int(values["max_pending_per_key"]),
        max_pending_jobs=int(values["max_pending_jobs"]),
    )


async def no_counts(owner: str | None) -> tuple[int, int]:
    return 0, 0


async def test_two_replicas_spend_one_bucket_in_redis(redis_url: str) -> None:
    scope = f"comfy-gateway:test-{uuid.uuid4().hex}"
    a, b = limits(rate=0.5), limits(rate=0.5)
    for replica in (a, b):
        replica.share(redis_url, scope, no_counts)
    try:
        await a.take("name:alice")
        await b.take("name:alice")
        await a.take("name:alice")  # the burst of 3, spent over both replicas
        with pytest.raises(RateLimited) as refused:
            await b.take("name:alice")
        assert refused.value.retry_after == 2  # 0.5 token/s: the next one in 2 s
        await b.take("name:bob")  # buckets are per caller
        assert a._buckets == {} and b._buckets == {}  # nothing counted in the replicas' memory
    finally:
        await a.aclose()
        await b.aclose()


async def test_redis_unreachable_the_replicas_own_bucket_decides() -> None:
    lim = limits()
    lim.share("redis://127.0.0.1:1/0", "comfy-gateway:unreachable", no_counts)
    try:
        for _ in range(3):
            await lim.take("name:alice")
        with pytest.raises(RateLimited):
            await lim.take("name:alice")
    finally:
        await lim.aclose()


async def test_unfinished_jobs_are_counted_from_the_database_when_shared(job_db_url: str) -> None:
    store = JobStore(job_db_url)
    await store.open()
    try:
        for status, owner in [
            (JobStatus.PENDING, "alice"),
            (JobStatus.RUNNING, "alice"),  # both submitted through another replica
            (JobStatus.COMPLETED, "alice"),  # finished: not counted
            (JobStatus.SUBMITTING, None),  # an open gateway's caller
        ]:
            await store.insert(Job(str(uuid.uuid4()), {}, status=status, owner=owner))
        assert await store.count_active("alice") == (3, 2)
        assert await store.count_active() == (3, 0)

        lim = limits(rate=0, max_pending_per_key=2, max_pending_jobs=4)
        lim.shared_counts = store.count_active
        with pytest.raises(RateLimited) as refused:
            await lim.admit("name:alice", active_jobs=0)  # this replica holds none of them
        assert refused.value.code == "too_many_pending_jobs"
        await lim.admit("name:bob", active_jobs=0)
        with pytest.raises(GatewayBusy):
            await lim.admit("name:bob", active_jobs=0, count=2)  # 3 unfinished + 2 > 4, over all replicas
        lim.job_started("addr:10.0.0.1", "p1")  # no owner recorded: this replica's count decides
        await lim.admit("addr:10.0.0.1", active_jobs=0)
        lim.job_started("addr:10.0.0.1", "p2")
        with pytest.raises(RateLimited):
            await lim.admit("addr:10.0.0.1", active_jobs=0)
    finally:
        await store.close()
