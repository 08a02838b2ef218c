"""Failure paths against real processes: a ComfyUI of our own that is killed and restarted on the same port
(the session ComfyUI is never stopped), a socket cut while jobs end, a server that never answers."""

from __future__ import annotations

import asyncio
import copy
import json
import random
import struct
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from comfyui_client import (
    ComfyClient,
    ComfyTimeout,
    ComfyUnavailable,
    DisconnectedEvent,
    Event,
    EventStream,
    ExecutedEvent,
    ExecutingEvent,
    ExecutionInterruptedEvent,
    ExecutionSuccessEvent,
    JobLostEvent,
    ProgressEvent,
    ReconnectedEvent,
    WsConnection,
)
from comfyui_client.hub import default_ws_connect
from comfyui_local import LocalComfyUI, install

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "comfyui" / "samples"
WAIT = 120.0  # upper bound on a loaded machine; nothing relies on it being tight


def unique(name: str) -> dict[str, Any]:
    graph: dict[str, Any] = copy.deepcopy(json.loads((SAMPLES / name).read_text()))
    for node in graph.values():
        if node["class_type"] == "EmptyImage":
            node["inputs"]["color"] = random.randrange(0, 0xFFFFFF)
        if "filename_prefix" in node["inputs"]:
            node["inputs"]["filename_prefix"] = f"client_it/{uuid.uuid4().hex[:8]}"
    return graph


SLOW = "12_slow_interruptible_tiled.prompt.json"
QUICK = "01_emptyimage_saveimage.prompt.json"


async def events_until(stream: EventStream, stop: Callable[[Event], bool]) -> list[Event]:
    events: list[Event] = []
    async with asyncio.timeout(WAIT):
        async for event in stream:
            events.append(event)
            if stop(event):
                return events
    raise AssertionError("stream ended")


def progress_of(pid: str) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, ProgressEvent) and e.prompt_id == pid


def finished(pid: str) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, ExecutingEvent) and e.is_finished and e.prompt_id == pid


@pytest.fixture(scope="module")
def own_comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalComfyUI]:
    """A ComfyUI of this module's own: these tests kill it."""
    with LocalComfyUI(install(), base_dir=tmp_path_factory.mktemp("own-comfyui")) as comfy:
        yield comfy


async def test_event_stream_survives_a_restart_on_the_same_port(own_comfy: LocalComfyUI) -> None:
    async with ComfyClient(own_comfy.url, timeout=5.0, reconnect_backoff=(0.1, 1.0)) as client:
        async with client.events() as stream:
            await stream.wait_connected(30)
            slow = await client.submit(unique(SLOW))
            stream.track(slow.prompt_id)
            await events_until(stream, progress_of(slow.prompt_id))

            await asyncio.to_thread(own_comfy.stop, kill=True)  # a crash mid-job
            await events_until(stream, lambda e: isinstance(e, DisconnectedEvent))

            # While it is down every call fails fast with ComfyUnavailable naming the URL.
            started = time.monotonic()
            with pytest.raises(ComfyUnavailable, match=own_comfy.url.split("//")[1]):
                await client.queue()
            assert time.monotonic() - started < client.timeout
            async with ComfyClient(own_comfy.url, timeout=2.0) as other:
                with pytest.raises(ComfyUnavailable):
                    await other.submit(unique(QUICK))
                async with other.events() as other_stream:
                    with pytest.raises(ComfyUnavailable, match="no WebSocket connection"):
                        await other_stream.wait_connected(0.5)

            await asyncio.to_thread(own_comfy.start)
            events = await events_until(stream, lambda e: isinstance(e, JobLostEvent))
            kinds = [type(e) for e in events]
            assert ReconnectedEvent in kinds and kinds.index(ReconnectedEvent) < kinds.index(JobLostEvent)
            assert events[-1].prompt_id == slow.prompt_id
            assert stream.tracked == frozenset()

            # The same stream carries the restarted ComfyUI's events.
            quick = await client.submit(unique(QUICK))
            stream.track(quick.prompt_id)
            events = await events_until(stream, finished(quick.prompt_id))
            assert any(isinstance(e, ExecutedEvent) and not e.synthetic for e in events)
        entry = await client.wait_for(quick.prompt_id, timeout=WAIT)
        assert entry.outcome == "success"


async def test_model_listing_and_smoke_metadata(own_comfy: LocalComfyUI) -> None:
    vae = own_comfy.models_dir / "vae"
    header = json.dumps({"__metadata__": {"comfy_gateway_smoke_weights": "1", "family": "test"}}).encode()
    (vae / "client_it_smoke.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    (vae / "client_it_placeholder.safetensors").write_bytes(b"")
    async with ComfyClient(own_comfy.url) as client:
        names = await client.models("vae")
        assert {"client_it_smoke.safetensors", "client_it_placeholder.safetensors"} <= set(names)
        meta = await client.view_metadata("vae", "client_it_smoke.safetensors")
        assert meta == {"comfy_gateway_smoke_weights": "1", "family": "test"}
        assert await client.view_metadata("vae", "client_it_placeholder.safetensors") is None
        assert await client.view_metadata("vae", "absent.safetensors") is None


class Gate:
    """A real websockets connect that the test can cut and keep shut, with ComfyUI still running."""

    def __init__(self) -> None:
        self.open = True
        self.connections: list[WsConnection] = []
        self._connect = default_ws_connect()

    async def __call__(self, url: str) -> WsConnection:
        if not self.open:
            raise ConnectionRefusedError(111, "gate closed by the test")
        conn = await self._connect(url)
        self.connections.append(conn)
        return conn

    async def cut(self) -> None:
        self.open = False
        await self.connections[-1].close()


async def wait_history(client: ComfyClient, prompt_id: str) -> None:
    async with asyncio.timeout(WAIT):
        for _ in iter(int, 1):
            if await client.history(prompt_id) is not None:
                return
            await asyncio.sleep(0.1)


@pytest.fixture
async def gated(comfyui: Any) -> AsyncIterator[tuple[ComfyClient, Gate]]:
    gate = Gate()
    async with ComfyClient(comfyui.url, timeout=30.0, ws_connect=gate, reconnect_backoff=(0.05, 0.2)) as c:
        yield c, gate


async def test_jobs_that_end_while_the_socket_is_down_are_resynchronised(
    gated: tuple[ComfyClient, Gate],
) -> None:
    client, gate = gated
    async with client.events() as stream:
        await stream.wait_connected(30)
        slow = await client.submit(unique(SLOW))
        quick = await client.submit(unique(QUICK))  # pending behind the slow one
        stream.track(slow.prompt_id)
        stream.track(quick.prompt_id)
        await events_until(stream, progress_of(slow.prompt_id))

        await gate.cut()
        await events_until(stream, lambda e: isinstance(e, DisconnectedEvent))
        await client.interrupt(slow.prompt_id)  # both jobs now end while nobody listens
        await wait_history(client, quick.prompt_id)
        gate.open = True

        events = await events_until(stream, finished(quick.prompt_id))
    assert isinstance(events[0], ReconnectedEvent)
    synthetic = [e for e in events if e.synthetic]
    assert [(type(e), e.prompt_id) for e in synthetic] == [
        (ExecutionInterruptedEvent, slow.prompt_id),
        (ExecutingEvent, slow.prompt_id),
        (ExecutedEvent, quick.prompt_id),
        (ExecutionSuccessEvent, quick.prompt_id),
        (ExecutingEvent, quick.prompt_id),
    ]
    assert stream.tracked == frozenset()
    entry = await client.wait_for(quick.prompt_id, timeout=WAIT)
    assert entry.files and entry.files[0].kind == "image"


async def test_a_server_that_never_answers_times_out_within_the_timeout() -> None:
    held: list[asyncio.StreamWriter] = []

    async def accept_and_ignore(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept_and_ignore, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with ComfyClient(f"http://127.0.0.1:{port}", timeout=0.5) as client:
            started = time.monotonic()
            with pytest.raises(ComfyTimeout, match="did not answer"):
                await client.system_stats()
            elapsed = time.monotonic() - started
        assert 0.4 <= elapsed < 10
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
