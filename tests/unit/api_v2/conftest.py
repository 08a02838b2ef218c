"""The gateway served by uvicorn in a thread (the official SDK's sync client blocks), ComfyUI unreachable (the
bundled catalog answers validation); keys `alice` and `bob` (read + submit) exist on the keyed one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.auth.keys import hash_key, key_prefix
from api.jobs.store import JobStore
from tests.gateway_support import serve_in_thread

KEYS = {"alice": "cg_alice-key-0123456789", "bob": "cg_bob-key-0123456789"}


@pytest.fixture(scope="module")
def open_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_in_thread(tmp_path_factory.mktemp("v2open"))


async def _add_keys(db: Path) -> None:
    store = JobStore(f"sqlite+aiosqlite:///{db}")
    await store.open()
    try:
        for name, key in KEYS.items():
            await store.add_key(name, hash_key(key), key_prefix(key), ["read", "submit"])
    finally:
        await store.close()


@pytest.fixture(scope="module")
def keyed_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("v2keyed")
    asyncio.run(_add_keys(tmp / "gateway.db"))  # the database serve_in_thread opens
    yield from serve_in_thread(tmp)


@pytest.fixture
def sdk_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point the official SDK at a gateway (it reads COMFY_BASE_URL; no key unless given)."""

    def at(base_url: str) -> None:
        monkeypatch.setenv("COMFY_BASE_URL", base_url)
        monkeypatch.delenv("COMFY_API_KEY", raising=False)

    return at
