"""Redis, the ground for replicas: a job event published by one process reaches a subscriber on another
connection unchanged and in order, and a lease (SET NX PX) has one holder and expires. Skipped without
TEST_REDIS_URL (make test starts Redis with scripts/services.sh)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from api.jobs.state import Job, JobStatus, event

pytestmark = pytest.mark.redis


async def _next_message(pubsub: Any) -> dict[str, Any]:
    async with asyncio.timeout(5.0):
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                return dict(message)


async def test_a_job_event_crosses_from_one_replica_to_another(redis_url: str) -> None:
    publisher, subscriber = Redis.from_url(redis_url), Redis.from_url(redis_url)
    job = Job(prompt_id=str(uuid.uuid4()), workflow={"1": {}}, status=JobStatus.RUNNING, progress=42.0)
    channel = f"comfy-gateway:test:{uuid.uuid4().hex}:job:{job.prompt_id}"
    try:
        pubsub = subscriber.pubsub()
        await pubsub.psubscribe(channel.rsplit(":", 1)[0] + ":*")  # all jobs, as an event relay would
        sent = [event(job, "progress"), {**event(job, "finished"), "status": "completed", "progress": 100.0}]
        for ev in sent:
            receivers = await publisher.publish(channel, json.dumps(ev))
            assert receivers == 1
        received = [await _next_message(pubsub) for _ in sent]
        assert [m["channel"].decode() for m in received] == [channel, channel]
        assert [json.loads(m["data"]) for m in received] == sent
        await pubsub.aclose()
    finally:
        await publisher.aclose()
        await subscriber.aclose()


async def test_a_lease_has_one_holder_and_expires(redis_url: str) -> None:
    a, b = Redis.from_url(redis_url), Redis.from_url(redis_url)
    key = f"comfy-gateway:test:{uuid.uuid4().hex}:lease:backend-1"
    try:
        assert await a.set(key, "replica-a", nx=True, px=300)
        assert not await b.set(key, "replica-b", nx=True, px=300)
        assert await b.get(key) == b"replica-a"
        await asyncio.sleep(0.5)  # replica-a died without renewing
        assert await b.set(key, "replica-b", nx=True, px=300)
        assert await a.get(key) == b"replica-b"
    finally:
        await a.delete(key)
        await a.aclose()
        await b.aclose()
