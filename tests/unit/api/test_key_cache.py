"""API keys are cached in memory: no database round trip per request, and a key made or revoked elsewhere
(`comfy-gateway keys` in another process: here a second store handle on the same database) counts, or stops
working, within `refresh_seconds`."""

from __future__ import annotations

import asyncio

import pytest

from api.auth import OPEN, KeyRing, generate_key, hash_key
from api.errors import Unauthorized
from api.jobs.store import JobStore


async def test_keys_made_and_revoked_elsewhere_count_within_the_refresh_bound(job_db_url: str) -> None:
    gateway, cli = JobStore(job_db_url), JobStore(job_db_url)  # the gateway's handle, and another process's
    await gateway.open()
    await cli.open()
    try:
        ring = KeyRing(refresh_seconds=0.3)
        ring.attach(gateway)
        assert await ring.principal(None) is OPEN
        key = generate_key()
        await cli.add_key("ci", hash_key(key), key[:10], ["read"])
        # Not seen yet: the gateway trusts its copy for up to refresh_seconds (still open, key unknown).
        assert await ring.principal(None) is OPEN
        with pytest.raises(Unauthorized):
            await ring.principal(key)
        await asyncio.sleep(0.35)
        assert (await ring.principal(key)).name == "ci"
        with pytest.raises(Unauthorized, match="required"):
            await ring.principal(None)  # a key exists now: the gateway is no longer open

        assert await cli.revoke_key("ci")
        await asyncio.sleep(0.35)  # the documented bound: a revoked key stops within refresh_seconds
        with pytest.raises(Unauthorized, match="revoked"):
            await ring.principal(key)
        assert await ring.principal(None) is OPEN
    finally:
        await cli.close()
        await gateway.close()


async def test_writes_through_the_gateways_own_store_count_at_once(job_db_url: str) -> None:
    store = JobStore(job_db_url)
    await store.open()
    try:
        ring = KeyRing(refresh_seconds=3600)
        ring.attach(store)
        assert await ring.principal(None) is OPEN
        key = generate_key()
        await store.add_key("alice", hash_key(key), key[:10], ["read", "submit"])
        assert (await ring.principal(key)).has("submit")
        assert await store.revoke_key("alice")
        with pytest.raises(Unauthorized):
            await ring.principal(key)
    finally:
        await store.close()


async def test_requests_between_checks_cost_no_database_round_trip(job_db_url: str) -> None:
    store = JobStore(job_db_url)
    await store.open()
    try:
        key = generate_key()
        await store.add_key("bot", hash_key(key), key[:10], ["read"])
        ring = KeyRing(refresh_seconds=3600)
        ring.attach(store)
        checks = loads = 0
        generation, active = store.key_generation, store.active_keys

        async def counted_generation() -> tuple[int, int]:
            nonlocal checks
            checks += 1
            return await generation()

        async def counted_active() -> dict[str, tuple[str, list[str]]]:
            nonlocal loads
            loads += 1
            return await active()

        store.key_generation = counted_generation  # type: ignore[method-assign]
        store.active_keys = counted_active  # type: ignore[method-assign]
        # Many concurrent first requests: one check, one load; then none at all.
        names = await asyncio.gather(*(ring.principal(key) for _ in range(50)))
        assert {p.name for p in names} == {"bot"} and (checks, loads) == (1, 1)
        for _ in range(200):
            await ring.principal(key)
            with pytest.raises(Unauthorized):
                await ring.principal(generate_key())  # an unknown key is refused from memory too
        assert (checks, loads) == (1, 1)

        # Past the bound the check is one count query; the keys are reloaded only when it changed.
        ring.refresh_seconds = 0
        await ring.principal(key)
        assert (checks, loads) == (2, 1)
    finally:
        await store.close()
