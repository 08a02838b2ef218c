"""Access on the wire, against the real ComfyUI: API keys and scopes on every route, owners of jobs, events,
outputs, uploads and generation runs, the queue a non-admin key sees, WebSocket/SSE keys and Origin, and
secrets kept out of answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from api.app import create_app
from api.auth import generate_key, hash_key
from api.auth.keys import key_prefix
from api.jobs.store import JobStore
from tests.gateway_support import (
    Gateway,
    fresh,
    gateway_settings,
    planner_gateway_settings,
    running_gateway,
    served,
)
from tests.integration.api.test_errors_and_system import tiny_png

pytestmark = pytest.mark.integration

SLOW = "12_slow_interruptible_tiled.prompt.json"
ADMIN_KEY = "bootstrap-admin-key-0123456789"


@dataclass
class Keyed:
    gw: Gateway
    keys: dict[str, str]  # name -> key

    def h(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]}"}

    async def submit(self, name: str, graph: dict[str, Any]) -> str:
        resp = await self.gw.http.post(
            "/api/workflow/submit", json={"workflow": {"prompt": graph}}, headers=self.h(name)
        )
        assert resp.status_code == 200, resp.text
        prompt_id: str = resp.json()["prompt_id"]
        return prompt_id

    async def wait(self, name: str, prompt_id: str, within: float = 60.0) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                resp = await self.gw.http.get(f"/api/workflow/status/{prompt_id}", headers=self.h(name))
                assert resp.status_code == 200, resp.text
                if resp.json()["status"] in ("completed", "failed", "cancelled", "timeout"):
                    body: dict[str, Any] = resp.json()
                    return body
                await asyncio.sleep(0.05)


async def add_key(gw: Gateway, name: str, *scopes: str) -> str:
    key = generate_key()
    await gw.app.state.store.add_key(name, hash_key(key), key_prefix(key), list(scopes))
    return key


@pytest.fixture(scope="module")
async def keyed(comfyui: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Keyed]:
    db = tmp_path_factory.mktemp("access") / "jobs.db"
    settings = gateway_settings(
        comfyui.url, db, api_keys=f"root:{ADMIN_KEY}", cors_origins=["https://ok.test"]
    )
    async with running_gateway(settings) as gw:
        keys = {
            "root": ADMIN_KEY,
            "alice": await add_key(gw, "alice", "read", "submit"),
            "bob": await add_key(gw, "bob", "read", "submit"),
            "reader": await add_key(gw, "reader", "read"),
        }
        yield Keyed(gw, keys)


async def test_every_route_needs_a_key_but_liveness(keyed: Keyed) -> None:
    http = keyed.gw.http
    assert (await http.get("/health/live")).status_code == 200
    spec = (await http.get("/openapi.json", headers=keyed.h("reader"))).json()
    paths = [
        p.replace("{prompt_id}", "x")
        .replace("{thread_id}", "x")
        .replace("{folder}", "vae")
        .replace("{type}", "output")
        .replace("{filename}", "x.png")
        .replace("{name}", "x")
        for p in spec["paths"]
    ]
    for path in [*paths, "/docs", "/openapi.json", "/no/such/route"]:
        if path == "/health/live":
            continue
        for method in ("GET", "POST"):
            resp = await http.request(method, path)
            assert resp.status_code == 401, (method, path, resp.status_code)
            assert resp.json()["code"] == "unauthorized" and resp.headers["www-authenticate"].startswith(
                "Bearer"
            )
    bad = await http.get("/api/queue", headers={"Authorization": "Bearer cgw_not-a-key"})
    assert bad.status_code == 401 and "invalid" in bad.json()["detail"]
    huge = await http.get("/api/queue", headers={"X-API-Key": "k" * 10_000})
    assert huge.status_code == 401
    assert (await http.get("/api/queue", headers={"X-API-Key": keyed.keys["alice"]})).status_code == 200


async def test_a_missing_scope_is_403(keyed: Keyed) -> None:
    http = keyed.gw.http
    resp = await http.post(
        "/api/workflow/submit",
        json={"workflow": fresh("01_emptyimage_saveimage.prompt.json")},
        headers=keyed.h("reader"),
    )
    assert (
        resp.status_code == 403 and resp.json()["code"] == "forbidden" and "submit" in resp.json()["detail"]
    )
    upload = await http.post(
        "/api/inputs", files={"file": ("r.png", tiny_png(), "image/png")}, headers=keyed.h("reader")
    )
    assert upload.status_code == 403
    assert (await http.get("/api/models", headers=keyed.h("reader"))).status_code == 200
    assert (await http.get("/health", headers=keyed.h("reader"))).status_code == 200


async def test_jobs_and_outputs_belong_to_their_key(keyed: Keyed) -> None:
    http = keyed.gw.http
    prompt_id = await keyed.submit("alice", fresh("01_emptyimage_saveimage.prompt.json"))
    body = await keyed.wait("alice", prompt_id)
    assert body["status"] == "completed" and body["output_images"]
    url = body["output_images"][0]

    # Another non-admin key: every door is a 404, exactly like an unknown id.
    for method, path in (
        ("GET", f"/api/workflow/status/{prompt_id}"),
        ("POST", f"/api/workflow/cancel/{prompt_id}"),
        ("GET", f"/api/workflow/{prompt_id}/events"),
    ):
        theirs = await http.request(method, path, headers=keyed.h("bob"))
        unknown = await http.request(method, path.replace(prompt_id, "no-such-id"), headers=keyed.h("bob"))
        assert theirs.status_code == unknown.status_code == 404, (path, theirs.text)
        assert theirs.json()["code"] == unknown.json()["code"] == "job_not_found"
    assert (await http.get(url, headers=keyed.h("bob"))).status_code == 404

    # The owner and an admin see it; the file comes with nosniff.
    image = await http.get(url, headers=keyed.h("alice"))
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert image.headers["x-content-type-options"] == "nosniff"
    assert (
        "content-disposition" not in image.headers or "attachment" not in image.headers["content-disposition"]
    )
    assert (await http.get(url, headers=keyed.h("root"))).status_code == 200
    admin = await http.get(f"/api/workflow/status/{prompt_id}", headers=keyed.h("root"))
    assert admin.status_code == 200

    # Never an arbitrary name, never the input or temp folders, even for an admin.
    for path in (
        "/api/outputs/output/not_an_output.png",
        "/api/outputs/input/r.png",
        "/api/outputs/temp/x.png",
    ):
        resp = await http.get(path, headers=keyed.h("root"))
        assert resp.status_code == 404, path


async def test_queue_shows_a_non_admin_only_its_own_jobs(keyed: Keyed) -> None:
    http = keyed.gw.http
    slow = await keyed.submit("alice", fresh(SLOW))
    try:
        mine = (await http.get("/api/queue", headers=keyed.h("alice"))).json()
        assert slow in [i[1] for i in mine["running"] + mine["pending"]]
        theirs = (await http.get("/api/queue", headers=keyed.h("bob"))).json()
        listed = [i[1] for i in theirs["running"] + theirs["pending"]]
        assert slow not in listed and theirs["others_running"] + theirs["others_pending"] >= 1
        admin = (await http.get("/api/queue", headers=keyed.h("root"))).json()
        assert slow in [i[1] for i in admin["running"] + admin["pending"]]
        assert "others_running" not in admin and "others_pending" not in admin
    finally:
        resp = await http.post(f"/api/workflow/cancel/{slow}", headers=keyed.h("alice"))
        assert resp.status_code in (200, 409), resp.text


async def test_uploads_never_overwrite_unless_asked_and_owned(keyed: Keyed) -> None:
    http = keyed.gw.http
    png = tiny_png()
    name = f"owned-{id(png)}.png"
    first = await http.post("/api/inputs", files={"file": (name, png, "image/png")}, headers=keyed.h("alice"))
    assert first.status_code == 200 and first.json()["name"] == name
    other = png + b"\x00"  # different content under the same name
    kept = await http.post("/api/inputs", files={"file": (name, other, "image/png")}, headers=keyed.h("bob"))
    assert kept.status_code == 200 and kept.json()["name"] != name  # a new name: alice's file is kept
    refused = await http.post(
        "/api/inputs",
        files={"file": (name, other, "image/png")},
        data={"overwrite": "true"},
        headers=keyed.h("bob"),
    )
    assert refused.status_code == 409 and refused.json()["code"] == "conflict"
    replaced = await http.post(
        "/api/inputs",
        files={"file": (name, other, "image/png")},
        data={"overwrite": "true"},
        headers=keyed.h("alice"),
    )
    assert replaced.status_code == 200 and replaced.json()["name"] == name


async def test_event_streams_need_a_key_and_a_friendly_origin(comfyui: Any, tmp_path: Path) -> None:
    # Served by uvicorn (a real WebSocket handshake), with a database and ComfyUI client id of its own.
    db = tmp_path / "events.db"
    store = JobStore(f"sqlite+aiosqlite:///{db}")
    await store.open()
    keys = {}
    for name in ("alice", "bob"):
        keys[name] = generate_key()
        await store.add_key(name, hash_key(keys[name]), key_prefix(keys[name]), ["read", "submit"])
    await store.close()
    settings = gateway_settings(comfyui.url, db, cors_origins=["https://ok.test"])
    async with served(create_app(settings)) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        resp = await http.post(
            "/api/workflow/submit",
            json={"workflow": fresh("01_emptyimage_saveimage.prompt.json")},
            headers={"X-API-Key": keys["alice"]},
        )
        assert resp.status_code == 200, resp.text
        prompt_id = resp.json()["prompt_id"]
        url = f"{base.replace('http://', 'ws://')}/api/workflow/{prompt_id}/ws"
        for target, headers in (
            (url, {}),  # no key
            (f"{url}?api_key={keys['alice']}", {"Origin": "https://evil.test"}),  # a foreign page
        ):
            with pytest.raises(InvalidStatus) as refused:
                async with websockets.connect(target, additional_headers=headers):
                    pass
            assert refused.value.response.status_code in (401, 403)
        # The key as a query parameter, or as a subprotocol (what browsers can send).
        async with websockets.connect(f"{url}?api_key={keys['alice']}") as sock:
            events = [json.loads(m) async for m in sock]
        assert events[-1]["event"] == "finished"
        async with websockets.connect(
            url,
            subprotocols=["comfy-gateway", f"bearer.{keys['alice']}"],  # type: ignore[list-item]
            additional_headers={"Origin": "https://ok.test"},
        ) as sock:
            assert sock.subprotocol == "comfy-gateway"
            events = [json.loads(m) async for m in sock]
        assert events[-1]["event"] == "finished"
        async with websockets.connect(f"{url}?api_key={keys['bob']}") as sock:
            first = json.loads(await sock.recv())
            await asyncio.sleep(0.1)
        assert first["detail"] == "unknown job" and sock.close_code == 4404

        sse = f"/api/workflow/{prompt_id}/events"
        assert (await http.get(sse)).status_code == 401
        foreign = await http.get(
            sse, params={"api_key": keys["alice"]}, headers={"Origin": "https://evil.test"}
        )
        assert foreign.status_code == 403
        ok = await http.get(sse, params={"api_key": keys["alice"]})
        assert ok.status_code == 200 and "event: finished" in ok.text


async def test_a_revoked_key_stops_at_once(keyed: Keyed) -> None:
    key = await add_key(keyed.gw, "temp", "read")
    headers = {"X-API-Key": key}
    assert (await keyed.gw.http.get("/api/queue", headers=headers)).status_code == 200
    assert await keyed.gw.app.state.store.revoke_key("temp")
    assert (await keyed.gw.http.get("/api/queue", headers=headers)).status_code == 401


async def test_generation_runs_belong_to_their_key(comfyui: Any, tmp_path: Path) -> None:
    settings = planner_gateway_settings(comfyui.url, tmp_path, api_keys=f"root:{ADMIN_KEY}")
    async with running_gateway(settings) as gw:
        alice, bob = await add_key(gw, "alice", "read", "submit"), await add_key(gw, "bob", "read", "submit")
        resp = await gw.http.post(
            "/api/workflow/generate", json={"prompt": "a red square image"}, headers={"X-API-Key": alice}
        )
        assert resp.status_code in (200, 400, 422), resp.text  # refused or not, the run is recorded
        thread_id = resp.json()["thread_id"]
        run = f"/api/workflow/generate/{thread_id}"
        assert (await gw.http.get(run, headers={"X-API-Key": alice})).status_code == 200
        assert (await gw.http.get(run, headers={"X-API-Key": bob})).status_code == 404
        assert (await gw.http.get(run, headers={"X-API-Key": ADMIN_KEY})).status_code == 200


async def test_secrets_are_never_echoed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from comfyui_local import free_port

    url = f"http://operator:hunter2-secret@127.0.0.1:{free_port()}"
    settings = gateway_settings(
        url, tmp_path / "down.db", comfyui_timeout=2.0, openai_api_key="sk-test-SECRET-llm-key"
    )
    with caplog.at_level("DEBUG"):
        async with running_gateway(settings) as gw:
            health = await gw.http.get("/health")
            submit = await gw.http.post(
                "/api/workflow/submit", json={"workflow": fresh("01_emptyimage_saveimage.prompt.json")}
            )
            logging_probe = __import__("logging").getLogger("tests.access")
            logging_probe.warning("calling %s with %s", url, "sk-test-SECRET-llm-key")
    assert health.status_code == 503 and submit.status_code == 503
    for text in (health.text, submit.text, caplog.text):
        assert "hunter2-secret" not in text and "sk-test-SECRET-llm-key" not in text
    assert "operator:***@" not in health.text and "***@127.0.0.1" in health.json()["comfyui"]["url"]
