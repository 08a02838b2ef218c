"""The eval runner's cancel stops a job whose first interrupt ComfyUI dropped.

ComfyUI clears its interrupt flag when a job's execution begins, so an interrupt that lands after the job left
the queue but before that start is lost, and the job runs to its end (a full-size graph for many minutes).
"""

from __future__ import annotations

import json

import httpx
import pytest

import evals.live as live
from comfyui_client import ComfyClient
from evals.live import ComfyBackend


class DroppingComfy:
    """A ComfyUI whose job `pid` is running and ignores its first `drops` interrupts."""

    def __init__(self, pid: str, drops: int) -> None:
        self.pid = pid
        self.drops = drops
        self.running = True
        self.interrupts = 0
        self.deletes: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/queue" and request.method == "POST":
            self.deletes.extend(json.loads(request.content).get("delete", []))
            return httpx.Response(200, json={})
        if request.url.path == "/interrupt":
            assert json.loads(request.content) == {"prompt_id": self.pid}  # by id: never someone else's job
            self.interrupts += 1
            if self.interrupts > self.drops:
                self.running = False
            return httpx.Response(200, json={})
        if request.url.path == "/queue":
            running = [[1, self.pid, {}, {}, []]] if self.running else []
            return httpx.Response(200, json={"queue_running": running, "queue_pending": []})
        return httpx.Response(404, json={})


@pytest.fixture(autouse=True)
def quick_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "CANCEL_RECHECK", 0.01)


@pytest.mark.parametrize("drops", [0, 1, 3])
async def test_cancel_interrupts_again_until_the_job_stops(drops: int) -> None:
    comfy = DroppingComfy("p-1", drops)
    client = ComfyClient("http://comfy.test", transport=httpx.MockTransport(comfy.handle))
    await ComfyBackend(client, owns_client=True).cancel("p-1")
    assert comfy.deletes == ["p-1"]
    assert not comfy.running
    assert comfy.interrupts == drops + 1
    await client.aclose()


async def test_cancel_gives_up_after_its_tries() -> None:
    comfy = DroppingComfy("p-2", drops=10**6)
    client = ComfyClient("http://comfy.test", transport=httpx.MockTransport(comfy.handle))
    await ComfyBackend(client).cancel("p-2")  # logs, never raises: the run goes on
    assert comfy.interrupts == live.CANCEL_TRIES
    await client.aclose()
