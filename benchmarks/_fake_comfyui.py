"""A fake ComfyUI for benchmarks that need to drive a job's events at will (`sse`): just enough of ComfyUI's
HTTP API (/prompt, /queue, /history, /system_stats, /interrupt) and its WebSocket (`/ws?clientId=`: the
hello `status`, then whatever `FakeComfyUI.emit` sends) for the gateway's client, served by uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


def frame(type_: str, **data: Any) -> str:
    return json.dumps({"type": type_, "data": data})


class FakeComfyUI:
    def __init__(self) -> None:
        self.sockets: dict[str, WebSocket] = {}
        self.prompts: dict[str, dict[str, Any]] = {}
        self.running: list[str] = []
        self.history: dict[str, dict[str, Any]] = {}
        self.number = 0
        self.submitted: asyncio.Queue[str] = asyncio.Queue()
        self.app = Starlette(
            routes=[
                Route("/prompt", self.prompt, methods=["POST"]),
                Route("/queue", self.queue),
                Route("/history/{prompt_id}", self.history_of),
                Route("/history", self.history_all),
                Route("/system_stats", self.system_stats),
                Route("/interrupt", self.ok, methods=["POST"]),
                WebSocketRoute("/ws", self.ws),
            ]
        )

    async def emit(self, type_: str, **data: Any) -> float:
        """Send one event to every connected client; the time it was handed to the sockets."""
        text = frame(type_, **data)
        sent = time.perf_counter()
        for sock in list(self.sockets.values()):
            await sock.send_text(text)
        return sent

    def finish(self, prompt_id: str) -> None:
        """The job's /history entry as ComfyUI writes it once it ran."""
        self.running = [p for p in self.running if p != prompt_id]
        number, graph = self.prompts[prompt_id]["number"], self.prompts[prompt_id]["prompt"]
        self.history[prompt_id] = {
            "prompt": [number, prompt_id, graph, {}, []],
            "outputs": {},
            "status": {
                "status_str": "success",
                "completed": True,
                "messages": [["execution_success", {"prompt_id": prompt_id, "timestamp": 0}]],
            },
        }

    async def prompt(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.number += 1
        pid = body["prompt_id"]
        self.prompts[pid] = {"number": self.number, "prompt": body["prompt"]}
        self.running.append(pid)
        self.submitted.put_nowait(pid)
        return JSONResponse({"prompt_id": pid, "number": self.number, "node_errors": {}})

    async def queue(self, _: Request) -> JSONResponse:
        items = [[self.prompts[p]["number"], p, self.prompts[p]["prompt"], {}, []] for p in self.running]
        return JSONResponse({"queue_running": items, "queue_pending": []})

    async def history_of(self, request: Request) -> JSONResponse:
        pid = request.path_params["prompt_id"]
        return JSONResponse({pid: self.history[pid]} if pid in self.history else {})

    async def history_all(self, _: Request) -> JSONResponse:
        return JSONResponse(self.history)

    async def system_stats(self, _: Request) -> JSONResponse:
        return JSONResponse({"system": {"comfyui_version": "fake"}, "devices": []})

    async def ok(self, _: Request) -> JSONResponse:
        return JSONResponse({})

    async def ws(self, sock: WebSocket) -> None:
        client_id = sock.query_params.get("clientId", "")
        await sock.accept()
        self.sockets[client_id] = sock
        await sock.send_text(frame("status", status={"exec_info": {"queue_remaining": 0}}, sid=client_id))
        try:
            while True:
                await sock.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            if self.sockets.get(client_id) is sock:
                del self.sockets[client_id]
