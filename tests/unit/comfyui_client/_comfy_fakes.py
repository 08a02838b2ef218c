"""Test doubles for the ComfyUI client: a scripted WebSocket connect and a tiny in-memory ComfyUI HTTP API.

No network: the WebSocket is an asyncio queue, HTTP goes through httpx.MockTransport.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import websockets

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "comfyui" / "samples"


def load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def capture_frames(name: str) -> list[str]:
    """The WebSocket messages of a `*.result.json` capture, as the text frames ComfyUI sent."""
    return [
        json.dumps({"type": m["type"], "data": m["data"]})
        for m in load(name)["ws"]
        if "type" in m and "data" in m
    ]


class FakeWs:
    """One fake connection: frames are fed with `feed`; `drop()` breaks it like a dead server."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | bytes | BaseException] = asyncio.Queue()
        self.closed = False
        self.drained = asyncio.Event()  # set when the reader asks for more and nothing is left

    def feed(self, *frames: str | bytes) -> None:
        self.drained.clear()
        for frame in frames:
            self.queue.put_nowait(frame)

    def drop(self) -> None:
        self.queue.put_nowait(websockets.exceptions.ConnectionClosedError(None, None))

    async def recv(self) -> str | bytes:
        if self.queue.empty():
            self.drained.set()
        item = await self.queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def close(self) -> None:
        self.closed = True


class FakeConnector:
    """A `ws_connect` whose outcomes are scripted: `fail(n)` makes the next n connects refuse; each successful
    connect creates a FakeWs (in `connections`) that first sends ComfyUI's hello (`status` with `sid`)."""

    def __init__(self, *, hello: bool = True) -> None:
        self.hello = hello
        self.connections: list[FakeWs] = []
        self.urls: list[str] = []
        self.failures = 0
        self.attempts = 0
        self.connected = asyncio.Event()
        self._changed = asyncio.Condition()
        self.on_connect: Callable[[FakeWs], None] | None = None

    def fail(self, times: int) -> None:
        self.failures = times

    async def __call__(self, url: str) -> FakeWs:
        self.attempts += 1
        self.urls.append(url)
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        ws = FakeWs()
        if self.hello:
            sid = url.rsplit("clientId=", 1)[-1]
            ws.feed(
                json.dumps(
                    {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": sid}}
                )
            )
        self.connections.append(ws)
        if self.on_connect is not None:
            self.on_connect(ws)
        self.connected.set()
        async with self._changed:
            self._changed.notify_all()
        return ws

    @property
    def current(self) -> FakeWs:
        return self.connections[-1]

    async def wait_connections(self, count: int) -> FakeWs:
        """The `count`-th connection, once made (callers bound the wait with asyncio.timeout)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.connections) >= count)
        return self.connections[count - 1]


class FakeComfy:
    """Enough of ComfyUI's HTTP API for the stream, wait_for and the gateway's jobs: GET /queue,
    /history/{id}, POST /prompt (400 with `reject` as the body when set), POST /queue (delete pending) and
    POST /interrupt (recorded in `interrupted`).

    An interrupt ends the running job as ComfyUI 0.3.75 does: by id only if that job is the one running
    (else ignored, pending ones too), without id whichever runs; its history entry says interrupted and,
    with `ws` set (the connector whose current connection gets the frames), `execution_interrupted` then
    `executing(None)` are sent. `hold_interrupts` keeps the job running (an interrupt that lands late)."""

    def __init__(self, ws: FakeConnector | None = None) -> None:
        self.ws = ws
        self.hold_interrupts = False
        self.history: dict[str, dict[str, Any]] = {}
        self.running: list[list[Any]] = []
        self.pending: list[list[Any]] = []
        self.requests: list[httpx.Request] = []
        self.number = 0
        self.reject: dict[str, Any] | None = None
        self.interrupted: list[str | None] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/queue" and request.method == "GET":
            return httpx.Response(200, json={"queue_running": self.running, "queue_pending": self.pending})
        if path.startswith("/history/"):
            pid = path.rsplit("/", 1)[1]
            return httpx.Response(200, json={pid: self.history[pid]} if pid in self.history else {})
        if path == "/queue" and request.method == "POST":
            deleted = set(json.loads(request.content).get("delete", []))
            self.pending = [p for p in self.pending if p[1] not in deleted]
            return httpx.Response(200)
        if path == "/interrupt" and request.method == "POST":
            target = json.loads(request.content or b"{}").get("prompt_id")
            self.interrupted.append(target)
            running = [p for p in self.running if target is None or p[1] == target]
            if running and not self.hold_interrupts:
                self.interrupt_running(str(running[0][1]))
            return httpx.Response(200)
        if path == "/prompt" and request.method == "POST" and self.reject is not None:
            return httpx.Response(400, json=self.reject)
        if path == "/prompt" and request.method == "POST":
            body = json.loads(request.content)
            self.number += 1
            self.pending.append(
                [self.number, body["prompt_id"], body["prompt"], {"client_id": body["client_id"]}, []]
            )
            return httpx.Response(
                200, json={"prompt_id": body["prompt_id"], "number": self.number, "node_errors": {}}
            )
        return httpx.Response(404)

    def finish(self, prompt_id: str, entry: dict[str, Any]) -> None:
        self.pending = [p for p in self.pending if p[1] != prompt_id]
        self.running = [p for p in self.running if p[1] != prompt_id]
        self.history[prompt_id] = entry

    def interrupt_running(self, prompt_id: str, node_id: str = "2", node_type: str = "SaveImage") -> None:
        """The running job stops at its next node: history written as interrupted, then its events sent."""
        data = {"prompt_id": prompt_id, "node_id": node_id, "node_type": node_type, "executed": []}
        messages = [
            ["execution_start", {"prompt_id": prompt_id, "timestamp": 1000}],
            ["execution_interrupted", {**data, "timestamp": 2000}],
        ]
        self.finish(
            prompt_id,
            {"outputs": {}, "status": {"status_str": "error", "completed": False, "messages": messages}},
        )
        if self.ws is not None and self.ws.connections:
            self.ws.current.feed(
                frame("execution_interrupted", **data, timestamp=2000),
                frame("executing", prompt_id=prompt_id, node=None),
            )

    def start(self, prompt_id: str) -> None:
        item = next(p for p in self.pending if p[1] == prompt_id)
        self.pending.remove(item)
        self.running.append(item)

    @property
    def pending_ids(self) -> list[str]:
        return [str(p[1]) for p in self.pending]

    def forget(self, prompt_id: str) -> None:
        self.pending = [p for p in self.pending if p[1] != prompt_id]
        self.running = [p for p in self.running if p[1] != prompt_id]
        self.history.pop(prompt_id, None)


def sample_history(name: str) -> tuple[str, dict[str, Any]]:
    """(prompt_id, raw history entry) of a `*.result.json` capture."""
    data = load(name)
    ((pid, entry),) = data["history"].items()
    return pid, entry


def frames_for(name: str, prompt_id: str) -> list[str]:
    """A capture's frames with its prompt id replaced by `prompt_id`."""
    old = load(name)["prompt_id"]
    return [f.replace(old, prompt_id) for f in capture_frames(name)]


def entry_for(name: str, prompt_id: str) -> dict[str, Any]:
    old, entry = sample_history(name)
    result: dict[str, Any] = json.loads(json.dumps(entry).replace(old, prompt_id))
    return result


def frame(type_: str, **data: Any) -> str:
    """One text frame as ComfyUI sends it: `{"type": ..., "data": {...}}`."""
    return json.dumps({"type": type_, "data": data})
