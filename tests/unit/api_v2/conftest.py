"""The gateway served by uvicorn in a thread (the official SDK's sync client blocks), ComfyUI unreachable (the
bundled catalog answers validation); keys `alice` and `bob` (read + submit) exist on the keyed one."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.app import create_app
from api.auth.keys import hash_key, key_prefix
from api.jobs.store import JobStore
from tests.gateway_support import gateway_settings

KEYS = {"alice": "cg_alice-key-0123456789", "bob": "cg_bob-key-0123456789"}


def serve_in_thread(tmp: Path, comfyui_url: str | None = None, **overrides: Any) -> Iterator[str]:
    from comfyui_local import free_port

    url = comfyui_url or f"http://127.0.0.1:{free_port()}"
    overrides.setdefault("catalog_source", "live" if comfyui_url else "bundled")
    app = create_app(gateway_settings(url, tmp / "v2.db", **overrides))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


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
    asyncio.run(_add_keys(tmp / "v2.db"))
    yield from serve_in_thread(tmp)


@pytest.fixture
def sdk_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point the official SDK at a gateway (it reads COMFY_BASE_URL; no key unless given)."""

    def at(base_url: str) -> None:
        monkeypatch.setenv("COMFY_BASE_URL", base_url)
        monkeypatch.delenv("COMFY_API_KEY", raising=False)

    return at
