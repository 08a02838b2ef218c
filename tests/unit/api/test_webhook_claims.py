"""Webhook deliveries shared by gateway replicas (issue 13): each pending delivery is claimed by one replica
at a time, so replicas starting together send it once; a killed replica's claim expires and another takes
it; a stopped one releases its claims at once. A single gateway still sends every pending one at start."""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from api import webhooks
from api.settings import Settings
from api.webhooks import Delivery, DeliveryStore, WebhookSender

SECRET = "whsec_" + base64.b64encode(b"comfy-gateway-test-webhook-secret").decode()
URL = "http://127.0.0.1:9/hook"


class Receiver:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()  # webhook-id -> requests

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.hits[request.headers["webhook-id"]] += 1
        return httpx.Response(204)


def delivery(n: int, *, next_at: float | None = None) -> Delivery:
    d = Delivery(f"msg_{n}", f"job-{n}", URL, "job.completed", {"type": "job.completed", "data": {}})
    if next_at is not None:
        d.next_at = next_at
    return d


@pytest.fixture
async def senders(job_db_url: str) -> AsyncIterator[Callable[..., WebhookSender]]:
    made: list[WebhookSender] = []

    def make(receiver: Receiver, *, shared: bool = True) -> WebhookSender:
        settings = Settings(
            database_url=job_db_url, webhook_secret=SECRET, inputs_url_allowlist=["127.0.0.1"]
        )
        sender = WebhookSender(settings, transport=httpx.MockTransport(receiver.handle))
        sender.shared = shared  # REDIS_URL (which SQLite refuses) is what sets it in the app
        made.append(sender)
        return sender

    yield make
    for sender in made:
        await sender.stop()


async def recorded(url: str, *ds: Delivery, owner: str | None = None, claim: float = 60.0) -> DeliveryStore:
    """Pending rows as a replica left them: claimed by `owner` for `claim` s, or by nobody."""
    store = DeliveryStore(url)
    await store.open()
    store.claim_seconds = claim
    for d in ds:
        await store.save(d, owner)
    return store


async def states(store: DeliveryStore, n: int) -> dict[str, str]:
    return {d.id: d.state for i in range(n) for d in await store.for_job(f"job-{i}")}


async def until(check: Callable[[], Any], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.02)


async def test_replicas_claiming_together_split_the_pending_deliveries(job_db_url: str) -> None:
    store = await recorded(job_db_url, *(delivery(i) for i in range(8)))
    other = DeliveryStore(job_db_url)
    await other.open()
    for _ in range(3):
        a, b = await asyncio.gather(store.claim("replica-a"), other.claim("replica-b"))
        assert not {d.id for d in a} & {d.id for d in b}  # never both
        assert {d.id for d in a} | {d.id for d in b} == {f"msg_{i}" for i in range(8)}
        await store.release("replica-a")
        await other.release("replica-b")
    await other.close()
    await store.close()


async def test_replicas_starting_send_each_pending_delivery_once(
    job_db_url: str, senders: Callable[..., WebhookSender]
) -> None:
    store = await recorded(job_db_url, *(delivery(i) for i in range(8)))
    receiver = Receiver()
    for sender in (senders(receiver), senders(receiver)):
        await sender.start()
    await until(lambda: len(receiver.hits) == 8)
    await asyncio.sleep(0.2)  # let the last records land
    assert set(receiver.hits.values()) == {1}, receiver.hits  # each sent by exactly one replica
    assert set((await states(store, 8)).values()) == {"delivered"}
    await store.close()


async def test_a_killed_replicas_delivery_is_taken_over_once_its_claim_expires(
    job_db_url: str, senders: Callable[..., WebhookSender], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "CLAIM_SCAN_INTERVAL", 0.05)
    store = await recorded(job_db_url, delivery(0), owner="killed-replica", claim=0.5)
    receiver = Receiver()
    survivor = senders(receiver)
    await survivor.start()
    await asyncio.sleep(0.2)
    assert not receiver.hits  # the killed replica's claim still holds: it might be sending it
    await until(lambda: receiver.hits["msg_0"] == 1)
    await asyncio.sleep(0.2)
    assert receiver.hits == {"msg_0": 1}
    assert await states(store, 1) == {"msg_0": "delivered"}
    await store.close()


async def test_a_stopped_replica_hands_its_deliveries_over_at_once(
    job_db_url: str, senders: Callable[..., WebhookSender]
) -> None:
    store = await recorded(job_db_url, delivery(0, next_at=time.time() + 0.5))  # waiting for a retry
    receiver = Receiver()
    first, second = senders(receiver), senders(receiver)
    await first.start()
    await asyncio.sleep(0.1)
    await second.start()  # the first holds it: the second leaves it
    await first.stop()  # released: the second's next scan (or start) takes it
    await second._claim()
    await until(lambda: receiver.hits["msg_0"] == 1)
    await asyncio.sleep(0.7)
    assert receiver.hits == {"msg_0": 1}
    await store.close()


async def test_a_single_gateway_sends_every_pending_delivery_at_start(
    job_db_url: str, senders: Callable[..., WebhookSender]
) -> None:
    """One process, killed and started again: its old claims are its own to resume, not to wait out."""
    store = await recorded(job_db_url, delivery(0), delivery(1), owner="the-same-gateway-before-its-crash")
    receiver = Receiver()
    await senders(receiver, shared=False).start()
    await until(lambda: len(receiver.hits) == 2)
    await store.close()
