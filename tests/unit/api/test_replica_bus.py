"""The Redis bus between replicas (api.jobs.bus.RedisBus), against a real Redis: a message reaches every
other replica in order and never its sender; a malformed message is skipped, the next ones still arrive.
Skipped without TEST_REDIS_URL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from api.jobs.bus import InProcessBus, RedisBus
from tests.unit.api.test_replica_trackers import until

pytestmark = pytest.mark.redis


async def test_messages_reach_the_other_replicas_in_order_and_not_the_sender(redis_url: str) -> None:
    channel = f"comfy-gateway:test:{uuid.uuid4().hex}:jobs"
    got: dict[str, list[dict[str, Any]]] = {"a": [], "b": [], "c": []}
    buses = {name: RedisBus(redis_url, channel, name) for name in got}
    for name, bus in buses.items():

        async def handler(message: dict[str, Any], name: str = name) -> None:
            got[name].append(message)

        await bus.start(handler)
    try:
        sent = [
            {"type": "job", "prompt_id": "p", "state": {"progress": float(i)}, "events": []} for i in range(5)
        ]
        for message in sent:
            await buses["a"].publish(message)
        raw = Redis.from_url(redis_url)
        await raw.publish(channel, b"not json")  # someone else's junk on the channel
        await raw.aclose()
        await buses["b"].publish({"type": "job", "prompt_id": "q", "state": {}, "events": []})
        await until(lambda: len(got["c"]) >= 6 and len(got["a"]) >= 1 and len(got["b"]) >= 5)
        expected = [{**m, "origin": "a"} for m in sent]
        assert got["b"] == expected and got["c"][:5] == expected
        assert [m["prompt_id"] for m in got["a"]] == ["q"]  # its own five never came back
        assert got["c"][5]["origin"] == "b"
    finally:
        for bus in buses.values():
            await bus.stop()


async def test_the_in_process_bus_is_silent_alone_and_delivers_to_peers() -> None:
    alone = InProcessBus()
    await alone.start(lambda message: asyncio.sleep(0))
    await alone.publish({"type": "job"})  # nobody else: nothing happens
    await alone.stop()
    peers: list[InProcessBus] = []
    a, b = InProcessBus(peers), InProcessBus(peers)
    got: list[dict[str, Any]] = []

    async def handler(message: dict[str, Any]) -> None:
        got.append(message)

    await a.start(handler)
    await b.start(handler)
    await a.publish({"n": 1})
    await a.publish({"n": 2})
    await until(lambda: len(got) >= 2)
    await asyncio.sleep(0.05)
    assert got == [{"n": 1}, {"n": 2}]  # b got them, a did not
    await a.stop()
    await b.stop()


async def test_a_replica_cut_off_from_redis_resubscribes_and_receives_again(redis_url: str) -> None:
    """Redis drops the subscriber's connection (a restart, a network cut): it subscribes again by itself;
    what was published meanwhile is lost (the database covers that), what comes after arrives."""
    channel = f"comfy-gateway:test:{uuid.uuid4().hex}:jobs"
    sender, receiver = RedisBus(redis_url, channel, "a"), RedisBus(redis_url, channel, "b")
    got: list[dict[str, Any]] = []

    async def handler(message: dict[str, Any]) -> None:
        got.append(message)

    await sender.start(handler)
    await receiver.start(handler)
    admin = Redis.from_url(redis_url)
    try:
        await sender.publish({"n": 1})
        await until(lambda: len(got) == 1)
        clients = await admin.client_list()
        ids = [c["id"] for c in clients if c.get("name") == "comfy-gateway-bus:b"]
        assert ids, clients
        for client_id in ids:
            await admin.client_kill_filter(_id=client_id)
        for n in range(2, 200):  # until the receiver is subscribed again
            await sender.publish({"n": n})
            if len(got) > 1:
                break
            await asyncio.sleep(0.05)
        assert len(got) > 1 and got[-1]["n"] > 1
    finally:
        await admin.aclose()
        await sender.stop()
        await receiver.stop()
