"""Nothing lost, nothing run twice (issue 12), against the real local ComfyUI: the job row is written before
POST /prompt, an unanswered POST is settled by asking ComfyUI, Idempotency-Key returns the same job, and
faults (a slow or unreachable ComfyUI, a dropped WebSocket, rows left by a crash) lose no job
and leave none stuck."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from api.jobs import Job, JobStatus, JobStore
from comfyui_client import ComfyClient
from tests.gateway_support import fresh, gateway_settings, running_gateway
from tests.integration.api.tcp_proxy import tcp_proxy

pytestmark = pytest.mark.integration

FAST = "01_emptyimage_saveimage.prompt.json"
SLOW = "12_slow_interruptible_tiled.prompt.json"


def body(graph: dict[str, Any]) -> dict[str, Any]:
    return {"workflow": {"prompt": graph}}


async def rows(settings: Any) -> list[Job]:
    store = JobStore(settings.database_url)
    await store.open()
    try:
        return await store.recent(1000)
    finally:
        await store.close()


async def test_idempotency_key_returns_the_same_job(comfyui: Any, tmp_path: Path) -> None:
    settings = gateway_settings(comfyui.url, tmp_path / "idem.db")
    async with running_gateway(settings) as gw:
        graph = fresh(FAST)
        headers = {"Idempotency-Key": "order-42"}
        first = await gw.http.post("/api/workflow/submit", json=body(graph), headers=headers)
        assert first.status_code == 200, first.text
        assert "Idempotent-Replayed" not in first.headers
        pid = first.json()["prompt_id"]
        again = await gw.http.post("/api/workflow/submit", json=body(graph), headers=headers)
        assert again.status_code == 200 and again.json()["prompt_id"] == pid
        assert again.headers["Idempotent-Replayed"] == "true"
        # Concurrent retries with one new key: one job between them.
        key = {"Idempotency-Key": "burst-1"}
        burst = await asyncio.gather(
            *(gw.http.post("/api/workflow/submit", json=body(graph), headers=key) for _ in range(5))
        )
        assert {r.status_code for r in burst} == {200}
        assert len({r.json()["prompt_id"] for r in burst}) == 1
        # The same key with another body is refused, never applied to it.
        other = await gw.http.post("/api/workflow/submit", json=body(fresh(FAST)), headers=headers)
        assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
        bad = await gw.http.post(
            "/api/workflow/submit", json=body(graph), headers={"Idempotency-Key": "x" * 300}
        )
        assert bad.status_code == 400 and bad.json()["code"] == "bad_request"
        assert (await gw.wait(pid))["status"] == "completed"
        assert (await gw.wait(burst[0].json()["prompt_id"]))["status"] == "completed"
    recorded = await rows(settings)
    assert len(recorded) == 2 and {r.status for r in recorded} == {JobStatus.COMPLETED}


async def test_comfyui_unreachable_at_submit_records_nothing(tmp_path: Path) -> None:
    from comfyui_local import free_port

    settings = gateway_settings(f"http://127.0.0.1:{free_port()}", tmp_path / "down.db", comfyui_timeout=2.0)
    async with running_gateway(settings) as gw:
        resp = await gw.http.post("/api/workflow/submit", json=body(fresh(FAST)))
        assert resp.status_code == 503 and resp.headers["Retry-After"]
        assert resp.json()["code"] == "comfyui_unavailable"
    assert await rows(settings) == []  # never reached ComfyUI: nothing to settle, nothing left behind


async def test_post_prompt_slower_than_the_client_timeout_is_settled_not_failed(
    comfyui: Any, tmp_path: Path
) -> None:
    """POST /prompt reaches ComfyUI after the client gave up: the gateway asks /queue and /history, finds the
    job and answers with it; a retry with the same key returns it; it runs once."""
    async with tcp_proxy(comfyui.url, prompt_delay=3.0) as proxy:
        settings = gateway_settings(
            proxy.url, tmp_path / "slow.db", comfyui_timeout=1.0, submit_confirm_window=8.0
        )
        async with running_gateway(settings) as gw:
            graph = fresh(FAST)
            headers = {"Idempotency-Key": "slow-1"}
            started = time.monotonic()
            resp = await gw.http.post("/api/workflow/submit", json=body(graph), headers=headers)
            assert resp.status_code == 200, resp.text
            assert time.monotonic() - started >= 1.0 and proxy.prompts_held == 1
            pid = resp.json()["prompt_id"]
            proxy.prompt_delay = 0.0
            retry = await gw.http.post("/api/workflow/submit", json=body(graph), headers=headers)
            assert retry.json()["prompt_id"] == pid and proxy.prompts_held == 1  # not posted again
            final = await gw.wait(pid)
            assert final["status"] == "completed" and final["output_images"], final
    assert [r.prompt_id for r in await rows(settings)] == [pid]


async def test_a_post_that_arrives_after_not_submitted_was_answered_is_withdrawn(
    comfyui: Any, tmp_path: Path
) -> None:
    """ComfyUI had not received the job when asked: 503 not_submitted, the job failed as such; when the
    held request reaches ComfyUI later the gateway withdraws it, so a retry never makes it run twice."""
    async with tcp_proxy(comfyui.url, prompt_delay=4.0) as proxy:
        settings = gateway_settings(
            proxy.url, tmp_path / "late.db", comfyui_timeout=1.0, submit_confirm_window=0.5
        )
        async with running_gateway(settings) as gw:
            resp = await gw.http.post(
                "/api/workflow/submit", json=body(fresh(SLOW)), headers={"Idempotency-Key": "late-1"}
            )
            assert resp.status_code == 503 and resp.headers["Retry-After"], resp.text
            assert resp.json()["code"] == "not_submitted"
            pid = resp.json()["prompt_id"]
            status = await gw.status(pid)
            assert status["status"] == "failed" and status["error"]["type"] == "not_submitted"
            client: ComfyClient = gw.app.state.client
            deadline = time.monotonic() + 30
            while proxy.prompts_forwarded < 1:  # the held POST reaches ComfyUI ~4 s after it was sent
                assert time.monotonic() < deadline, "the held request never went on"
                await asyncio.sleep(0.1)
            while pid in await client.queue():  # withdrawn: deleted while pending, or interrupted
                assert time.monotonic() < deadline, "the late job was never withdrawn"
                await asyncio.sleep(0.2)
            entry = await client.history(pid)
            assert entry is None or entry.outcome == "interrupted", entry
            assert (await gw.status(pid))["status"] == "failed"
            # The key of a job that never ran is free again: a retry submits it for real.
            proxy.prompt_delay = 0.0
            retry = await gw.http.post(
                "/api/workflow/submit", json=body(fresh(FAST)), headers={"Idempotency-Key": "late-2"}
            )
            assert retry.status_code == 200
            assert (await gw.wait(retry.json()["prompt_id"]))["status"] == "completed"


async def test_rows_left_submitting_by_a_crash_are_settled_at_start_up(comfyui: Any, tmp_path: Path) -> None:
    """The gateway died between writing a job's row and hearing ComfyUI's answer: one job did reach ComfyUI,
    one did not. The next start asks ComfyUI: the first is followed to its end, the second failed as not
    submitted; neither stays `submitting`."""
    settings = gateway_settings(comfyui.url, tmp_path / "crash.db")
    store = JobStore(settings.database_url)
    await store.open()
    client_id = await store.client_id()
    reached = Job(prompt_id=_uuid(), workflow=fresh(FAST), status=JobStatus.SUBMITTING, client_id=client_id)
    lost = Job(prompt_id=_uuid(), workflow=fresh(FAST), status=JobStatus.SUBMITTING, client_id=client_id)
    await store.insert(reached)
    await store.insert(lost)
    await store.close()
    async with ComfyClient(comfyui.url, client_id=client_id) as client:
        await client.submit(reached.workflow, prompt_id=reached.prompt_id)
    async with running_gateway(settings) as gw:
        done = await gw.wait(reached.prompt_id)
        assert done["status"] == "completed" and done["output_images"], done
        failed = await gw.wait(lost.prompt_id)
        assert failed["status"] == "failed" and failed["error"]["type"] == "not_submitted", failed
    assert {r.prompt_id: r.status for r in await rows(settings)} == {
        reached.prompt_id: JobStatus.COMPLETED,
        lost.prompt_id: JobStatus.FAILED,
    }


async def test_websocket_dropped_mid_job_still_completes(comfyui: Any, tmp_path: Path) -> None:
    async with tcp_proxy(comfyui.url) as proxy:
        settings = gateway_settings(proxy.url, tmp_path / "ws.db", reconcile_interval=30.0)
        async with running_gateway(settings) as gw:
            pid = await gw.submit(fresh(SLOW))
            await gw.wait(pid, until={"running"})
            proxy.drop_all()  # the event socket (and every pooled HTTP connection) cut mid-job
            final = await gw.wait(pid, within=90)
            assert final["status"] == "completed" and final["output_images"], final


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())


async def test_cancel_while_comfyui_is_unreachable_is_never_a_false_cancelled(
    comfyui: Any, tmp_path: Path
) -> None:
    """Issue 12: a cancel ComfyUI cannot hear is 503 `cancel_unconfirmed` with the job's current status; the
    job keeps running (ComfyUI still runs it) and says a cancel was requested; once ComfyUI is reachable the
    gateway asks again and the job is `cancelled` after ComfyUI reports the interruption."""
    async with tcp_proxy(comfyui.url) as proxy:
        settings = gateway_settings(
            proxy.url, tmp_path / "cut.db", comfyui_timeout=2.0, reconcile_interval=0.5
        )
        async with running_gateway(settings) as gw:
            pid = await gw.submit(fresh(SLOW))
            await gw.wait(pid, until={"running"})
            proxy.refusing = True
            proxy.drop_all()
            resp = await gw.http.post(f"/api/workflow/cancel/{pid}")
            assert resp.status_code == 503, resp.text
            answer = resp.json()
            assert answer["code"] == "cancel_unconfirmed" and answer["prompt_id"] == pid
            assert answer["status"] == "running" and answer["cancel_requested"] is True
            status = await gw.status(pid)
            assert status["status"] == "running" and status["cancel_requested"] is True
            direct = ComfyClient(comfyui.url)
            try:
                assert (await direct.queue()).is_running(pid)  # ComfyUI never heard the cancel
                proxy.refusing = False
                final = await gw.wait(pid, within=60)
                assert final["status"] == "cancelled" and final["error"]["type"] == "cancelled", final
                entry = None
                for _ in range(100):  # the history entry follows ComfyUI's event by a moment
                    entry = await direct.history(pid)
                    if entry is not None:
                        break
                    await asyncio.sleep(0.05)
                assert entry is not None and entry.outcome == "interrupted"
            finally:
                await direct.aclose()
