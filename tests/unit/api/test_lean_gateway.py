"""Issue 13: what the gateway holds and does per request, made lean without changing what it answers.

A gateway that only runs workflows never loads LangGraph (the generation pipeline is built on the first
generation request, once); a job keeps its workflow as compact JSON; the API-key check runs ahead of its bound
instead of making concurrent requests wait; request ids cost no syscall; a GET's body is not wrapped."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from api.auth import OPEN, KeyRing, generate_key, hash_key
from api.jobs.state import Job
from api.jobs.store import JobStore
from api.logs import RequestId, new_request_id
from api.middleware import BodySizeLimit
from tests.gateway_support import gateway_settings, running_gateway

ROOT = Path(__file__).resolve().parents[3]

LAZY_CHECK = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from tests.gateway_support import gateway_settings, running_gateway

    HEAVY = ("langgraph", "langchain_core", "networkx")

    def loaded():
        return sorted({m.split(".")[0] for m in sys.modules if m.startswith(HEAVY)})

    async def main(tmp):
        settings = gateway_settings("http://127.0.0.1:9", Path(tmp) / "jobs.db", catalog_source="bundled",
                                    openai_base_url=None, openai_api_key=None, comfyui_timeout=0.5)
        async with running_gateway(settings) as gw:
            answers = {"queue": (await gw.http.get("/api/queue")).status_code,
                       "status": (await gw.http.get("/api/workflow/status/nope")).status_code}
            before = loaded()
            runtime = gw.app.state.generation
            built = await asyncio.gather(*(runtime.generator() for _ in range(5)))
            body = {"prompt": "a red fox in the snow, photo"}
            generated = await gw.http.post("/api/workflow/generate", json=body)
            again = await runtime.generator()
            print(json.dumps({"before": before, "after": loaded(), "answers": answers,
                              "one": all(g is again for g in built), "generate": generated.status_code,
                              "checkpoints": Path(settings.checkpoint_db).exists()}))

    asyncio.run(main(sys.argv[1]))
    """
)


def test_only_generation_loads_the_pipeline_and_builds_it_once(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", LAZY_CHECK, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["before"] == [], "a workflow-only gateway loaded " + ", ".join(seen["before"])
    assert seen["answers"] == {"queue": 503, "status": 404}
    assert {"langgraph", "langchain_core"} <= set(seen["after"]) and "networkx" not in seen["after"]
    assert seen["one"] and seen["generate"] == 200 and seen["checkpoints"]


async def test_startup_objects_are_frozen_while_the_app_runs(tmp_path: Path) -> None:
    settings = gateway_settings("http://127.0.0.1:9", tmp_path / "jobs.db", catalog_source="bundled")
    async with running_gateway(settings):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_a_job_keeps_its_workflow_as_compact_json() -> None:
    graph: dict[str, Any] = {"1": {"class_type": "SaveImage", "inputs": {"images": ("2", 0), "t": "é"}}}
    job = Job(prompt_id="p", workflow=graph)
    assert (
        job.__dict__["_workflow_json"]
        == json.dumps(graph, separators=(",", ":"), ensure_ascii=False).encode()
    )
    read = job.workflow
    assert read == {"1": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "t": "é"}}}  # as stored
    read["1"]["class_type"] = "changed"
    assert job.workflow["1"]["class_type"] == "SaveImage"  # each read is a fresh copy
    job.workflow = {"2": {"class_type": "X", "inputs": {}}}
    assert list(job.workflow) == ["2"]
    with pytest.raises(TypeError):
        Job(prompt_id="p")  # type: ignore[call-arg]


async def test_the_key_check_runs_ahead_without_making_requests_wait(job_db_url: str) -> None:
    store = JobStore(job_db_url)
    await store.open()
    try:
        ring = KeyRing(refresh_seconds=0.4)
        ring.attach(store)
        assert await ring.principal(None) is OPEN  # the first load
        release = asyncio.Event()
        checks = 0
        generation = store.key_generation

        async def slow_generation() -> tuple[int, int]:
            nonlocal checks
            checks += 1
            await release.wait()
            return await generation()

        store.key_generation = slow_generation  # type: ignore[method-assign]
        await asyncio.sleep(0.25)  # past half the bound: due, not yet stale
        answers = await asyncio.wait_for(asyncio.gather(*(ring.principal(None) for _ in range(32))), 1.0)
        assert all(a is OPEN for a in answers) and checks == 1  # answered from the copy, one check started
        key = generate_key()
        await JobStore.add_key(store, "late", hash_key(key), key[:10], ["read"])
        release.set()
        await asyncio.sleep(0.05)
        assert checks == 1 and (await ring.principal(key)).name == "late"  # the check ahead saw the key
    finally:
        await store.close()


async def _run(app: Any, headers: list[tuple[bytes, bytes]], **scope: Any) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    base = {"type": "http", "method": "GET", "path": "/x", "http_version": "1.1", "headers": headers}
    await app({**base, **scope}, receive, send)
    return sent


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    headers = [(b"content-type", b"text/plain"), (b"x-request-id", b"inner")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_request_ids_made_given_and_never_doubled() -> None:
    made = {new_request_id() for _ in range(1000)}
    assert len(made) == 1000 and all(len(r) == 32 and int(r, 16) >= 0 for r in made)
    app = RequestId(_answer)
    start = (await _run(app, [(b"x-request-id", b"req-42.abc")]))[0]
    assert [v for k, v in start["headers"] if k == b"x-request-id"] == [b"req-42.abc"]
    start = (await _run(app, [(b"x-request-id", b"bad id\t")]))[0]
    ids = [v for k, v in start["headers"] if k == b"x-request-id"]
    assert len(ids) == 1 and len(ids[0]) == 32 and (b"content-type", b"text/plain") in start["headers"]


async def test_a_body_the_framing_bounds_is_passed_on_unwrapped() -> None:
    seen: list[Any] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(receive)
        await _answer(scope, receive, send)

    limit = BodySizeLimit(inner, max_bytes=10)
    await _run(limit, [])  # HTTP/1.1 without Content-Length or Transfer-Encoding: no body
    await _run(limit, [(b"content-length", b"10")])
    await _run(limit, [(b"transfer-encoding", b"chunked")])
    await _run(limit, [], http_version="2")
    assert [getattr(r, "__name__", "") for r in seen] == [
        "receive",
        "receive",
        "limited_receive",
        "limited_receive",
    ]
    assert (await _run(limit, [(b"content-length", b"11")]))[0]["status"] == 413


async def test_an_unusable_checkpoint_database_is_a_clear_503_not_a_failed_start(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = gateway_settings(
        "http://127.0.0.1:9",
        tmp_path / "jobs.db",
        catalog_source="bundled",
        checkpoint_db=blocker / "under_a_file" / "cp.db",  # its folder cannot be made
    )
    async with running_gateway(settings) as gw:
        assert (await gw.http.get("/api/workflow/status/nope")).status_code == 404  # workflows: unaffected
        resp = await gw.http.get("/api/workflow/generate/00000000-0000-0000-0000-000000000000")
        assert resp.status_code == 503 and resp.json()["code"] == "generation_unavailable"
        assert "CHECKPOINT_DB" in resp.json()["detail"]
