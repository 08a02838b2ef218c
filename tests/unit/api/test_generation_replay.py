"""A generation request retried with the same Idempotency-Key gets the first run's answer (same thread, same
workflow, no second pipeline run); another body under the key is a 422; no key, a new run each time."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from api.auth import KeyRing
from api.auth.middleware import RequireKey
from api.errors import install_error_handlers
from api.jobs.store import JobStore
from api.routes import generation, generation_runs
from api.run_history import open_checkpoints
from api.run_replay import RUN_NAMESPACE
from api.settings import Settings
from comfyui_client import ComfyClient
from node_catalog import Catalog
from pipeline import Generator

MODELS = {
    "vae": ["hunyuan_video_vae_bf16.safetensors"],
    "diffusion_models": ["hunyuan_video_t2v_720p_bf16.safetensors"],
    "text_encoders": ["clip_l.safetensors", "llava_llama3_fp8_scaled.safetensors"],
}


class ModelsOnly:
    """The part of a ComfyClient the pipeline asks for the backend's model files; counts the runs."""

    def __init__(self) -> None:
        self.runs = 0

    async def model_folders(self) -> list[str]:
        self.runs += 1  # Reformat asks once per pipeline run
        return list(MODELS)

    async def models(self, folder: str) -> list[str]:
        return MODELS[folder]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    store = JobStore(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    await store.open()
    async with open_checkpoints(tmp_path / "runs.db", keep=10) as saver:
        client = ModelsOnly()
        app = FastAPI()
        install_error_handlers(app)
        app.add_middleware(RequireKey, keyring=KeyRing(), allowed_origins=[])  # no key: open
        app.include_router(generation.router)
        app.include_router(generation_runs.router)
        app.state.store = store
        app.state.settings = Settings(openai_base_url=None, openai_api_key=None)
        app.state.checkpoints = saver
        app.state.client = client
        app.state.jobs = object()  # these runs never submit
        app.state.generator = Generator(
            Catalog.bundled(), client=cast(ComfyClient, client), checkpointer=saver
        )
        yield app
    await store.close()


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
        yield http


def runs(app: FastAPI) -> int:
    return cast(ModelsOnly, app.state.client).runs


async def test_a_retried_key_gets_the_first_answer_without_a_second_run(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    body = {"prompt": "a fox in the snow, 2 seconds"}
    first = await http.post("/api/workflow/generate", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 200, first.text
    again = await http.post("/api/workflow/generate", json=body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 200
    assert again.json() == first.json()
    assert runs(app) == 1
    recorded = await http.get(f"/api/workflow/generate/{first.json()['thread_id']}")
    assert recorded.json()["workflow"] == first.json()["workflow"]


async def test_another_body_under_the_key_is_refused(app: FastAPI, http: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k-2"}
    assert (await http.post("/api/workflow/generate", json={"prompt": "a fox"}, headers=headers)).is_success
    other = await http.post("/api/workflow/generate", json={"prompt": "a wolf"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert runs(app) == 1


async def test_without_a_key_each_request_is_its_own_run(app: FastAPI, http: httpx.AsyncClient) -> None:
    answers = [(await http.post("/api/workflow/generate", json={"prompt": "a fox"})).json() for _ in range(2)]
    assert answers[0]["thread_id"] != answers[1]["thread_id"]
    assert runs(app) == 2


async def test_a_refused_run_replays_its_refusal(app: FastAPI, http: httpx.AsyncClient) -> None:
    body = {"prompt": "a fox", "resolution": "gigantic"}
    first = await http.post("/api/workflow/generate", json=body, headers={"Idempotency-Key": "k-3"})
    again = await http.post("/api/workflow/generate", json=body, headers={"Idempotency-Key": "k-3"})
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json()


async def test_the_stream_replays_the_recorded_steps_and_result(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    body = {"prompt": "a fox in the snow, 2 seconds"}
    headers = {"Idempotency-Key": "k-4"}
    first = await http.post("/api/workflow/generate", json=body, headers=headers)
    streamed = await http.post("/api/workflow/generate/stream", json=body, headers=headers)
    events = [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("data: ", 1)[1]))
        for block in streamed.text.strip().split("\n\n")
    ]
    assert [kind for kind, _ in events][-1] == "result"
    assert [data["step"]["agent"] for kind, data in events if kind == "step"] == [
        step["agent"] for step in first.json()["steps"]
    ]
    result: dict[str, Any] = events[-1][1]["result"]
    assert result["thread_id"] == first.json()["thread_id"]
    assert runs(app) == 1


async def test_a_key_whose_run_is_still_running_answers_409(app: FastAPI, http: httpx.AsyncClient) -> None:
    thread_id = str(uuid.uuid5(RUN_NAMESPACE, "anonymous:k-5"))  # an open gateway: one caller scope
    assert await app.state.store.claim_run(thread_id, None)  # started, no checkpoint yet
    busy = await http.post(
        "/api/workflow/generate", json={"prompt": "a fox"}, headers={"Idempotency-Key": "k-5"}
    )
    assert busy.status_code == 409
    assert busy.json()["code"] == "run_in_progress"
    assert busy.headers["Retry-After"]
    assert runs(app) == 0
