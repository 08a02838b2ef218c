"""Webhooks, limits and observability at the wire, on the real local ComfyUI.

A local HTTP receiver (uvicorn) verifies every webhook with `standardwebhooks.Webhook(secret).verify`; limits
are hit with real submissions held in ComfyUI's queue by a slow job; /metrics and JSON log lines are read
after real jobs.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from standardwebhooks import Webhook

from comfyui_local import free_port
from tests.gateway_support import Gateway, fresh, gateway_settings, running_gateway, served

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"comfy-gateway-test-webhook-secret").decode()
QUICK = "01_emptyimage_saveimage.prompt.json"
SLOW = "12_slow_interruptible_tiled.prompt.json"


@dataclass
class Receiver:
    """A webhook receiver: answers the scripted statuses in turn (then 200), records what came."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            self.received.append((dict(request.headers), await request.body()))
            status = self.statuses.pop(0) if self.statuses else 200
            return Response(status_code=status)

        return app

    async def wait_for(self, count: int, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} webhooks arrived"
            await asyncio.sleep(0.05)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    async with served(rec.app()) as base:  # type: ignore[arg-type]
        rec.url = f"{base}/hook"
        yield rec


def hook_settings(comfy_url: str, db: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "webhook_secret": SECRET,
        "webhook_backoff": 0.2,
        "webhook_backoff_max": 0.5,
        "inputs_url_allowlist": ["127.0.0.1"],
        **overrides,
    }
    return gateway_settings(comfy_url, db, **values)


async def wait_delivery(gw: Gateway, prompt_id: str, state: str, within: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        body = await gw.status(prompt_id)
        hooks = body.get("webhook") or []
        if hooks and hooks[0]["state"] == state:
            return body
        assert time.monotonic() < deadline, f"webhook of {prompt_id} never {state}: {hooks}"
        await asyncio.sleep(0.1)


async def test_webhook_signed_retried_after_500s_and_recorded(
    comfyui: Any, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    async with running_gateway(hook_settings(comfyui.url, tmp_path / "jobs.db")) as gw:
        prompt_id = await gw.submit(fresh(QUICK), webhook_url=receiver.url)
        assert (await gw.wait(prompt_id))["status"] == "completed"
        await receiver.wait_for(3)
        body = await wait_delivery(gw, prompt_id, "delivered")
        metrics = (await gw.http.get("/metrics")).text

    ids = set()
    for headers, raw in receiver.received:
        payload = Webhook(SECRET).verify(raw, headers)  # raises on a bad signature
        assert payload["type"] == "job.completed"
        assert payload["data"]["prompt_id"] == prompt_id and payload["data"]["status"] == "completed"
        assert payload["data"]["output_images"]
        ids.add(headers["webhook-id"])
    assert len(ids) == 1  # one message, retried: receivers deduplicate on webhook-id
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(SECRET).verify(receiver.received[0][1] + b" ", receiver.received[0][0])

    (delivery,) = body["webhook"]
    assert delivery["url"] == receiver.url and delivery["event_type"] == "job.completed"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]
    assert delivery["attempts"][0]["error"] == "HTTP 500"
    assert 'comfy_gateway_webhook_deliveries_total{outcome="retry"} 2.0' in metrics
    assert 'comfy_gateway_webhook_deliveries_total{outcome="delivered"} 1.0' in metrics


async def test_webhook_gives_up_after_max_attempts_and_reports_failure(
    comfyui: Any, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.statuses = [500] * 10
    settings = hook_settings(comfyui.url, tmp_path / "jobs.db", webhook_max_attempts=2)
    async with running_gateway(settings) as gw:
        prompt_id = await gw.submit(fresh(QUICK), webhook_url=receiver.url)
        body = await wait_delivery(gw, prompt_id, "failed")
    assert [a["status_code"] for a in body["webhook"][0]["attempts"]] == [500, 500]
    assert len(receiver.received) == 2


async def test_pending_delivery_survives_a_restart(comfyui: Any, tmp_path: Path, receiver: Receiver) -> None:
    receiver.statuses = [500]
    db = tmp_path / "jobs.db"
    # A long backoff: the first gateway stops with the delivery pending after one failed attempt.
    async with running_gateway(hook_settings(comfyui.url, db, webhook_backoff=0.5)) as gw:
        prompt_id = await gw.submit(fresh(QUICK), webhook_url=receiver.url)
        await receiver.wait_for(1)
        await asyncio.sleep(0.2)  # the failed attempt is recorded
    async with running_gateway(hook_settings(comfyui.url, db)) as gw:
        body = await wait_delivery(gw, prompt_id, "delivered")
    assert [a["status_code"] for a in body["webhook"][0]["attempts"]] == [500, 200]
    assert len({h["webhook-id"] for h, _ in receiver.received}) == 1


async def test_webhook_url_refused_like_input_urls(comfyui: Any, tmp_path: Path, gateway: Gateway) -> None:
    graph = {"workflow": {"prompt": fresh(QUICK)}}
    async with running_gateway(hook_settings(comfyui.url, tmp_path / "jobs.db")) as gw:
        for url in ("http://10.0.0.7/hook", "http://169.254.169.254/latest", "http://[::1]:9/x"):
            resp = await gw.http.post("/api/workflow/submit", json={**graph, "webhook_url": url})
            assert resp.status_code == 400 and resp.json()["code"] == "url_not_allowed", resp.text
            assert "webhook_url" in resp.json()["detail"]
        for url in ("ftp://example.com/x", "not a url", "http://"):
            resp = await gw.http.post("/api/workflow/submit", json={**graph, "webhook_url": url})
            assert resp.status_code == 400, resp.text
        resp = await gw.http.post("/api/workflow/submit", json={**graph, "webhook_url": "h" * 3000})
        assert resp.status_code == 422
        resp = await gw.http.post(
            "/api/workflow/batch", json={"workflows": [{**graph, "webhook_url": "http://10.1.2.3/"}]}
        )
        assert resp.status_code == 400 and resp.json()["errors"][0]["code"] == "url_not_allowed"
        resp = await gw.http.post(
            "/api/workflow/generate", json={"prompt": "a red fox", "webhook_url": "http://192.168.0.1/"}
        )
        assert resp.status_code == 400 and resp.json()["code"] == "url_not_allowed"
    # Without WEBHOOK_SECRET the gateway cannot sign: a webhook_url is refused, not silently dropped.
    resp = await gateway.http.post(
        "/api/workflow/submit", json={**graph, "webhook_url": "http://127.0.0.1:9/hook"}
    )
    assert resp.status_code == 400 and resp.json()["code"] == "webhooks_disabled"


async def test_pending_quota_429_and_global_bound_503(comfyui: Any, tmp_path: Path) -> None:
    keys = {name: f"{name}-secret-0123456789" for name in ("a", "b", "c")}
    settings = gateway_settings(
        comfyui.url,
        tmp_path / "jobs.db",
        max_pending_per_key=1,
        max_pending_jobs=2,
        api_keys=",".join(f"{n}:{k}" for n, k in keys.items()),
    )
    async with running_gateway(settings) as gw:
        key_a, key_b, key_c = ({"X-API-Key": k} for k in keys.values())
        gw.http.headers["X-API-Key"] = keys["a"]  # the harness's own calls (metrics, cancel, wait)
        body = {"workflow": {"prompt": fresh(SLOW)}}
        first = await gw.http.post("/api/workflow/submit", json=body, headers=key_a)
        assert first.status_code == 200, first.text
        ids = [first.json()["prompt_id"]]
        try:
            again = await gw.http.post(
                "/api/workflow/submit", json={"workflow": {"prompt": fresh(QUICK)}}, headers=key_a
            )
            assert again.status_code == 429 and again.json()["code"] == "too_many_pending_jobs"
            assert int(again.headers["Retry-After"]) >= 1
            other = await gw.http.post(
                "/api/workflow/submit", json={"workflow": {"prompt": fresh(SLOW)}}, headers=key_b
            )
            assert other.status_code == 200, other.text
            ids.append(other.json()["prompt_id"])
            full = await gw.http.post(
                "/api/workflow/submit", json={"workflow": {"prompt": fresh(QUICK)}}, headers=key_c
            )
            assert full.status_code == 503 and full.json()["code"] == "gateway_busy"
            assert int(full.headers["Retry-After"]) >= 1
            batch = await gw.http.post(
                "/api/workflow/batch", json={"workflows": [{"workflow": fresh(QUICK)}] * 2}, headers=key_c
            )
            assert batch.status_code == 503
            metrics = (await gw.http.get("/metrics")).text
            assert 'comfy_gateway_requests_limited_total{limit="key_pending"} 1.0' in metrics
            assert 'comfy_gateway_requests_limited_total{limit="gateway_pending"} 2.0' in metrics
        finally:
            for prompt_id in ids:
                await gw.http.post(f"/api/workflow/cancel/{prompt_id}")
        # Finished jobs no longer count: the same key may submit again.
        again = await gw.http.post(
            "/api/workflow/submit", json={"workflow": {"prompt": fresh(QUICK)}}, headers=key_a
        )
        assert again.status_code == 200, again.text
        await gw.wait(again.json()["prompt_id"])


async def test_rate_limit_per_key_429_with_retry_after(comfyui: Any, tmp_path: Path) -> None:
    k1, k2 = "k1-secret-0123456789", "k2-secret-0123456789"
    settings = gateway_settings(
        comfyui.url,
        tmp_path / "jobs.db",
        rate_limit_per_second=0.5,
        rate_limit_burst=2,
        api_keys=f"k1:{k1},k2:{k2}",
    )
    async with running_gateway(settings) as gw:
        url = "/api/workflow/status/no-such-job"
        codes = [(await gw.http.get(url, headers={"X-API-Key": k1})).status_code for _ in range(2)]
        assert codes == [404, 404]
        limited = await gw.http.get(url, headers={"Authorization": f"Bearer {k1}"})  # the same key
        assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 2
        # Another key has its own bucket; the liveness probe is never limited.
        assert (await gw.http.get(url, headers={"X-API-Key": k2})).status_code == 404
        for _ in range(5):
            assert (await gw.http.get("/health/live", headers={"X-API-Key": k1})).status_code == 200


async def test_metrics_after_a_job_and_a_generation(gateway: Gateway) -> None:
    prompt_id = await gateway.submit(fresh(QUICK))
    assert (await gateway.wait(prompt_id))["status"] == "completed"
    resp = await gateway.http.post("/api/workflow/generate", json={"prompt": "a red fox in snow, 512x512"})
    assert resp.status_code in (200, 400, 422), resp.text  # steps ran either way
    await gateway.http.get("/api/queue")
    metrics = await gateway.http.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert _sample(text, 'comfy_gateway_jobs_finished_total{state="completed"}') >= 1
    assert 'comfy_gateway_jobs{state="pending"}' in text and 'comfy_gateway_jobs{state="running"}' in text
    assert 'comfy_gateway_comfyui_queue_depth{queue="pending"}' in text
    prompt_posts = 'comfy_gateway_comfyui_request_seconds_count{method="POST",route="/prompt",status="200"}'
    assert _sample(text, prompt_posts) >= 1
    assert _sample(text, 'comfy_gateway_generation_step_seconds_count{agent="reformat"}') >= 1
    assert prompt_id not in text  # ids never become label values


async def test_metrics_on_their_own_port(comfyui: Any, tmp_path: Path) -> None:
    port = free_port()
    settings = gateway_settings(comfyui.url, tmp_path / "jobs.db", metrics_port=port, host="127.0.0.1")
    async with running_gateway(settings) as gw:
        assert (await gw.http.get("/metrics")).status_code == 404
        async with httpx.AsyncClient() as http:
            resp = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert resp.status_code == 200 and "comfy_gateway_jobs" in resp.text


async def test_json_logs_carry_request_and_job_ids(comfyui: Any, tmp_path: Path) -> None:
    settings = gateway_settings(comfyui.url, tmp_path / "jobs.db", log_format="json", log_level="INFO")
    root = logging.getLogger()
    try:
        async with running_gateway(settings) as gw:
            (handler,) = [h for h in root.handlers if getattr(h, "_comfy_gateway", False)]
            stream = io.StringIO()
            assert isinstance(handler, logging.StreamHandler)
            handler.setStream(stream)
            resp = await gw.http.post(
                "/api/workflow/submit",
                json={"workflow": {"prompt": fresh(QUICK)}},
                headers={"X-Request-ID": "req-42.abc"},
            )
            assert resp.status_code == 200 and resp.headers["X-Request-ID"] == "req-42.abc"
            prompt_id = resp.json()["prompt_id"]
            await gw.wait(prompt_id)
            made = await gw.http.get("/health/live", headers={"X-Request-ID": "bad id\twith tab"})
            assert len(made.headers["X-Request-ID"]) == 32  # refused as given: a new one
            assert (await gw.http.get("/api/workflow/status/nope")).headers["X-Request-ID"]
    finally:
        for h in [h for h in root.handlers if getattr(h, "_comfy_gateway", False)]:
            root.removeHandler(h)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    submitted = [line for line in lines if "submitted" in line["message"]]
    assert submitted and submitted[0]["request_id"] == "req-42.abc" and submitted[0]["job_id"] == prompt_id


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics:\n{text[:3000]}")
