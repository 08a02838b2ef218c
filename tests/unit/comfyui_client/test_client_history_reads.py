"""ComfyClient.history: callers asking at once share one GET, a finished job's entry is remembered (it never
changes), an unfinished one is asked again, and a deletion (or a new submit of the id) forgets it."""

from __future__ import annotations

import asyncio
import json

import httpx

from comfyui_client import ComfyClient
from comfyui_client import client as client_module
from tests.unit.comfyui_client._comfy_fakes import FakeComfy

PID = "00000000-0000-4000-8000-000000000001"
ENTRY = {"outputs": {}, "status": {"status_str": "success", "completed": True, "messages": []}}


def transport(comfy: FakeComfy) -> httpx.MockTransport:
    """The fake ComfyUI, plus POST /history (delete entries)."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/history" and request.method == "POST":
            comfy.requests.append(request)
            for pid in json.loads(request.content)["delete"]:
                comfy.history.pop(pid, None)
            return httpx.Response(200)
        return comfy.handle(request)

    return httpx.MockTransport(handle)


def gets(comfy: FakeComfy) -> int:
    return sum(1 for r in comfy.requests if r.url.path == f"/history/{PID}")


async def test_concurrent_reads_share_one_request_and_an_entry_is_remembered() -> None:
    comfy = FakeComfy()
    async with ComfyClient("http://comfy.test", transport=transport(comfy)) as client:
        assert await client.history(PID) is None  # not finished: not remembered
        assert await client.history(PID) is None
        assert gets(comfy) == 2
        comfy.finish(PID, ENTRY)
        first, second = await asyncio.gather(client.history(PID), client.history(PID))
        assert first is not None and first is second and first.outcome == "success"
        assert gets(comfy) == 3
        assert await client.history(PID) is first
        assert gets(comfy) == 3

        await client.delete_history(PID)  # forgotten here too
        assert await client.history(PID) is None
        comfy.finish(PID, ENTRY)
        assert await client.history(PID) is not None
        await client.submit({"1": {"class_type": "X", "inputs": {}}}, prompt_id=PID)  # queued again
        comfy.history.pop(PID)
        assert await client.history(PID) is None
        assert gets(comfy) == 6


async def test_a_cancelled_caller_leaves_the_shared_read_to_the_others() -> None:
    gate = asyncio.Event()
    calls = 0

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        await gate.wait()
        return httpx.Response(200, json={PID: ENTRY})

    async with ComfyClient("http://comfy.test", transport=httpx.MockTransport(handle)) as client:
        quitter = asyncio.create_task(client.history(PID))
        stayer = asyncio.create_task(client.history(PID))
        await asyncio.sleep(0.01)
        quitter.cancel()
        gate.set()
        entry = await stayer
        assert entry is not None and calls == 1


async def test_the_memory_is_bounded(monkeypatch: object) -> None:
    comfy = FakeComfy()
    setattr(client_module, "HISTORY_MEMORY", 2)  # noqa: B010 - restored below
    try:
        async with ComfyClient("http://comfy.test", transport=comfy.transport()) as client:
            ids = [f"00000000-0000-4000-8000-00000000001{i}" for i in range(3)]
            for pid in ids:
                comfy.finish(pid, ENTRY)
                await client.history(pid)
            assert list(client._entries) == ids[1:]
    finally:
        setattr(client_module, "HISTORY_MEMORY", 256)  # noqa: B010
