"""Progress, cancel (pending and running), timeout, batch, queue and live events on the real ComfyUI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.gateway_support import Gateway, fresh, gateway_settings, running_gateway, served

pytestmark = pytest.mark.integration

SLOW = "12_slow_interruptible_tiled.prompt.json"


async def test_progress_monotonic_to_100_and_pending_cancel(gateway: Gateway) -> None:
    slow = await gateway.submit(fresh(SLOW))
    behind = await gateway.submit(fresh("01_emptyimage_saveimage.prompt.json"))

    queue = (await gateway.http.get("/api/queue")).json()
    queued_ids = [item[1] for item in queue["running"] + queue["pending"]]
    assert slow in queued_ids and behind in queued_ids
    if behind in [item[1] for item in queue["pending"]]:
        position = (await gateway.status(behind))["queue_position"]
        assert position is not None and position >= 1

    cancelled = await gateway.http.post(f"/api/workflow/cancel/{behind}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = await gateway.http.post(f"/api/workflow/cancel/{behind}")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"  # idempotent
    queue = (await gateway.http.get("/api/queue")).json()
    assert behind not in [item[1] for item in queue["pending"]]

    seen: list[float] = []
    etas: list[Any] = []
    while True:
        body = await gateway.status(slow)
        seen.append(body["progress"])
        etas.append(body["estimated_time_remaining"])
        if body["status"] in ("completed", "failed", "cancelled", "timeout"):
            break
        if body["status"] == "running":
            assert body["current_node"] is None or body["current_node"]["class_type"]
        await asyncio.sleep(0.1)
    assert body["status"] == "completed", body
    assert seen == sorted(seen), "progress went down"
    assert seen[-1] == 100 and len(set(seen)) > 3, seen
    assert any(isinstance(e, float | int) and e > 0 for e in etas)
    assert (await gateway.status(behind))["status"] == "cancelled"

    finished = await gateway.http.post(f"/api/workflow/cancel/{slow}")
    assert finished.status_code == 409 and finished.json()["code"] == "job_finished"


async def test_running_job_is_interrupted_by_cancel(gateway: Gateway) -> None:
    prompt_id = await gateway.submit(fresh(SLOW))
    body = await gateway.wait(prompt_id, until={"running"})
    while body["progress"] <= 0 and body["status"] == "running":
        await asyncio.sleep(0.05)
        body = await gateway.status(prompt_id)
    resp = await gateway.http.post(f"/api/workflow/cancel/{prompt_id}")
    # 202 while ComfyUI has not confirmed the interruption within CANCEL_CONFIRM_WINDOW: wait for it.
    assert resp.status_code in (200, 202), resp.text
    assert (await gateway.wait(prompt_id, within=30))["status"] == "cancelled"
    # ComfyUI stops it: nothing runs any more, and its history says interrupted.
    client = gateway.app.state.client
    for _ in range(100):
        if not (await client.queue()).running:
            break
        await asyncio.sleep(0.1)
    assert not (await client.queue()).running
    entry = await client.history(prompt_id)
    assert entry is not None and entry.outcome == "interrupted"
    assert (await gateway.status(prompt_id))["status"] == "cancelled"


async def test_running_cancel_is_cancelled_only_after_comfyui_reported_the_interruption(
    gateway: Gateway,
) -> None:
    """Issue 12: the gateway records `cancelled` when ComfyUI reports the interruption (its event or its
    history entry), never when it merely asked: the job's finished_at is not before ComfyUI's own
    execution_interrupted timestamp, and the answer is 200 `cancelled` only if that already happened."""
    from datetime import datetime

    prompt_id = await gateway.submit(fresh(SLOW))
    body = await gateway.wait(prompt_id, until={"running"})
    while body["progress"] <= 0 and body["status"] == "running":
        await asyncio.sleep(0.05)
        body = await gateway.status(prompt_id)
    resp = await gateway.http.post(f"/api/workflow/cancel/{prompt_id}")
    client = gateway.app.state.client
    if resp.status_code == 200:
        assert resp.json() == {"prompt_id": prompt_id, "status": "cancelled", "message": "job is cancelled"}
    else:
        assert resp.status_code == 202 and resp.json()["cancel_requested"] is True, resp.text
        assert resp.json()["status"] == "running"
    final = await gateway.wait(prompt_id, within=30)
    assert final["status"] == "cancelled" and final["error"]["type"] == "cancelled", final
    assert final["cancel_requested"] is False and final["note"] is None
    entry = None
    for _ in range(100):  # the history entry follows ComfyUI's event by a moment
        entry = await client.history(prompt_id)
        if entry is not None:
            break
        await asyncio.sleep(0.05)
    assert entry is not None and entry.outcome == "interrupted" and entry.interruption is not None
    reported_at = entry.interruption["timestamp"] / 1000.0
    recorded_at = datetime.fromisoformat(final["finished_at"]).timestamp()
    assert recorded_at >= reported_at, (recorded_at, reported_at)


async def test_timeout_interrupts_and_marks_timeout(comfyui: Any, tmp_path: Path) -> None:
    settings = gateway_settings(comfyui.url, tmp_path / "t.db", workflow_timeout=0.5)
    async with running_gateway(settings) as gw:
        prompt_id = await gw.submit(fresh(SLOW))
        body = await gw.wait(prompt_id, within=60)
        assert body["status"] == "timeout", body
        assert "WORKFLOW_TIMEOUT" in body["error"]["message"]
        for _ in range(100):
            if not (await gw.app.state.client.queue()).running:
                break
            await asyncio.sleep(0.1)
        entry = await gw.app.state.client.history(prompt_id)
        assert entry is not None and entry.outcome == "interrupted"


async def test_batch_submits_one_job_each_or_nothing(gateway: Gateway) -> None:
    good = {"workflow": {"prompt": fresh("01_emptyimage_saveimage.prompt.json")}}
    video = {"workflow": fresh("03_createvideo_savevideo_mp4.prompt.json")}
    resp = await gateway.http.post("/api/workflow/batch", json={"workflows": [good, video]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["submitted"] == 2 and body["failed"] == 0
    results = [await gateway.wait(item["prompt_id"]) for item in body["jobs"]]
    assert [r["status"] for r in results] == ["completed", "completed"]
    assert results[1]["output_videos"]

    bad = {"workflow": {"1": {"class_type": "NoSuchNode", "inputs": {}}}}
    resp = await gateway.http.post("/api/workflow/batch", json={"workflows": [good, bad]})
    assert resp.status_code == 400
    assert [e["index"] for e in resp.json()["errors"]] == [1]


async def test_sse_and_websocket_stream_job_events(gateway: Gateway, comfyui: Any, tmp_path: Path) -> None:
    # Reconciliation effectively off: the WebSocket events alone must carry every job to its end.
    settings = gateway_settings(comfyui.url, tmp_path / "live.db", reconcile_interval=600)
    from api.app import create_app

    app = create_app(settings)
    async with served(app) as base, httpx.AsyncClient(base_url=base, timeout=60) as http:
        # WebSocket on a slow job: queued/started/progress/node ... finished, then closed by the server.
        submit = await http.post("/api/workflow/submit", json={"workflow": fresh(SLOW)})
        prompt_id = submit.json()["prompt_id"]
        ws_url = base.replace("http://", "ws://") + f"/api/workflow/{prompt_id}/ws"
        kinds: list[str] = []
        progress: list[float] = []
        async with websockets.connect(ws_url) as ws:
            async for raw in ws:
                msg = json.loads(raw)
                kinds.append(msg["event"])
                progress.append(msg["progress"])
        assert kinds[0] == "queued" and kinds[-1] == "finished"
        assert {"started", "progress", "node", "output"} <= set(kinds)
        assert progress == sorted(progress) and progress[-1] == 100
        assert msg["job"]["status"] == "completed" and msg["job"]["output_images"]

        # SSE on a job that already finished: its final state at once, then the stream ends.
        async with http.stream("GET", f"/api/workflow/{prompt_id}/events") as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            text = "".join([chunk async for chunk in resp.aiter_text()])
        assert text.startswith("event: finished\ndata: ")
        assert json.loads(text.split("data: ", 1)[1])["job"]["status"] == "completed"

        # SSE live on a new job.
        submit = await http.post(
            "/api/workflow/submit", json={"workflow": fresh("02_emptyimage_scale_saveimage.prompt.json")}
        )
        live_id = submit.json()["prompt_id"]
        async with http.stream("GET", f"/api/workflow/{live_id}/events") as resp:
            events = [line[7:] async for line in resp.aiter_lines() if line.startswith("event: ")]
        assert events[0] in ("queued", "finished") and events[-1] == "finished"

        unknown = await http.get("/api/workflow/nope/events")
        assert unknown.status_code == 404
        async with websockets.connect(base.replace("http://", "ws://") + "/api/workflow/nope/ws") as ws:
            msg = json.loads(await ws.recv())
            assert msg["event"] == "error"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404
