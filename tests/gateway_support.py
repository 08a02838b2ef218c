"""The gateway in tests: the app driven in-process (ASGI) or served by uvicorn, its settings, and helpers.

Shared by the api, pipeline and smoke-weight integration tests: `from tests.gateway_support import ...`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.settings import Settings
from tests.support import load_sample

__all__ = ["load_sample"]  # re-exported for the api tests


TERMINAL = {"completed", "failed", "cancelled", "timeout"}


@dataclass
class Gateway:
    app: FastAPI
    http: httpx.AsyncClient
    settings: Settings

    async def submit(self, graph: dict[str, Any], **body: Any) -> str:
        resp = await self.http.post("/api/workflow/submit", json={"workflow": {"prompt": graph}, **body})
        assert resp.status_code == 200, resp.text
        prompt_id: str = resp.json()["prompt_id"]
        return prompt_id

    async def status(self, prompt_id: str) -> dict[str, Any]:
        resp = await self.http.get(f"/api/workflow/status/{prompt_id}")
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    async def wait(
        self, prompt_id: str, *, within: float = 60.0, until: set[str] | None = None
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within
        wanted = until or TERMINAL
        while True:
            body = await self.status(prompt_id)
            if body["status"] in wanted:
                return body
            if time.monotonic() >= deadline:
                queue = await self.app.state.client.queue()
                entry = await self.app.state.client.history(prompt_id)
                outcome = entry.outcome if entry else None
                raise AssertionError(
                    f"job {prompt_id} still {body['status']} after {within} s "
                    f"(ComfyUI: {len(queue.running)} running, {len(queue.pending)} pending, {outcome})"
                )
            await asyncio.sleep(0.05)


def fresh(name: str, **changes: Any) -> dict[str, Any]:
    """A sample graph made unique (EmptyImage colour) so ComfyUI's cache never skips its nodes."""
    graph: dict[str, Any] = copy.deepcopy(load_sample(name))
    for node in graph.values():
        if node["class_type"] == "EmptyImage":
            node["inputs"]["color"] = random.randrange(0, 0xFFFFFF)
    for key, value in changes.items():
        node_id, _, field = key.partition(".")
        graph[node_id]["inputs"][field] = value
    return graph


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[Gateway]:
    """The app with its lifespan entered, and an httpx client talking to it in-process."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test", timeout=60) as http:
            yield Gateway(app=app, http=http, settings=settings)


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """Serve an app with uvicorn on a free port in this event loop (for WebSocket and SSE clients)."""
    from comfyui_local import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        assert not task.done(), "uvicorn exited during start-up"
        assert time.monotonic() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def gateway_settings(comfy_url: str, db: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "comfyui_url": comfy_url,
        "database_url": f"sqlite+aiosqlite:///{db}",
        "checkpoint_db": db.with_name(f"{db.stem}.checkpoints.db"),
        "comfyui_timeout": 5.0,
        "reconcile_interval": 1.0,
        "max_body_bytes": 2 * 1024 * 1024,
        **overrides,
    }
    return Settings(**values)


def planner_gateway_settings(comfy_url: str, state_dir: Path, **overrides: Any) -> Settings:
    """Settings for a gateway whose generation uses the planner whatever the environment says (no LLM), with
    the live catalog, and ComfyUI answers given time on a loaded machine."""
    values: dict[str, Any] = {
        "openai_base_url": None,
        "openai_api_key": None,
        "catalog_source": "live",
        "comfyui_timeout": 30.0,
        "max_body_bytes": 50 * 1024 * 1024,
        **overrides,
    }
    return gateway_settings(comfy_url, state_dir / "jobs.db", **values)


def touch_placeholders(models_dir: Path, files: dict[str, list[str]]) -> None:
    """Empty files named like real models (folder -> names): ComfyUI then accepts graphs that name them and
    fails at load time. Existing files (smoke weights, say) are left as they are."""
    for folder, names in files.items():
        (models_dir / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            (models_dir / folder / name).touch(exist_ok=True)


def serve_in_thread(tmp: Path, comfyui_url: str | None = None, **overrides: Any) -> Iterator[str]:
    """The app on a free loopback port (uvicorn in a thread, for blocking clients: the official SDK's sync
    client, schemathesis); ComfyUI unreachable unless `comfyui_url` (then its live catalog)."""
    from api.app import create_app
    from comfyui_local import free_port

    url = comfyui_url or f"http://127.0.0.1:{free_port()}"
    overrides.setdefault("catalog_source", "live" if comfyui_url else "bundled")
    app = create_app(gateway_settings(url, tmp / "gateway.db", **overrides))
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


@contextlib.contextmanager
def local_comfyui_pair(
    base: Path, *, before_start: Callable[[Any], None] | None = None
) -> Iterator[tuple[Any, Any]]:
    """Two local ComfyUIs of a test module's own (fleet tests kill them), started side by side under `base`
    (`before_start(b)` may put files in the second's folders first)."""
    from concurrent.futures import ThreadPoolExecutor

    from comfyui_local import LocalComfyUI, install

    inst = install()
    pair = [LocalComfyUI(inst, base_dir=base / name) for name in "ab"]
    if before_start is not None:
        before_start(pair[1])
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda c: c.start(), pair))
    try:
        yield pair[0], pair[1]
    finally:
        for comfy in pair:
            comfy.stop()
