"""A generation run's POST answer, its checkpoint and GET /api/workflow/generate/{thread_id} agree on how it
ended (the pipeline's final node records `error` / `error_code`; nothing is patched after the run)."""

from __future__ import annotations

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
from api.settings import Settings
from comfyui_client import ComfyClient
from node_catalog import Catalog
from pipeline import Generator

# The backend has the HunyuanVideo weights but no VAE file: no repair can make the graph valid.
MODELS = {
    "vae": [],
    "diffusion_models": ["hunyuan_video_t2v_720p_bf16.safetensors"],
    "text_encoders": ["clip_l.safetensors", "llava_llama3_fp8_scaled.safetensors"],
}


class ModelsOnly:
    """The part of a ComfyClient the pipeline asks for the backend's model files."""

    async def model_folders(self) -> list[str]:
        return list(MODELS)

    async def models(self, folder: str) -> list[str]:
        return MODELS[folder]


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store = JobStore(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    await store.open()
    async with open_checkpoints(tmp_path / "runs.db", keep=10) as saver:
        client = cast(ComfyClient, ModelsOnly())
        app = FastAPI()
        install_error_handlers(app)
        app.add_middleware(RequireKey, keyring=KeyRing(), allowed_origins=[])  # no key: open
        app.state.store = store
        app.include_router(generation.router)
        app.include_router(generation_runs.router)
        app.state.settings = Settings(openai_base_url=None, openai_api_key=None)
        app.state.checkpoints = saver
        app.state.client = client
        app.state.jobs = object()  # these runs never submit
        app.state.generator = Generator(Catalog.bundled(), client=client, checkpointer=saver)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
            yield http
    await store.close()


async def recorded(http: httpx.AsyncClient, answer: dict[str, Any]) -> dict[str, Any]:
    run = await http.get(f"/api/workflow/generate/{answer['thread_id']}")
    assert run.status_code == 200, run.text
    body: dict[str, Any] = run.json()
    return body


async def test_a_refused_run_reads_back_with_its_error(http: httpx.AsyncClient) -> None:
    resp = await http.post("/api/workflow/generate", json={"prompt": "a fox", "resolution": "gigantic"})
    assert resp.status_code == 422, resp.text
    answer = resp.json()
    run = await recorded(http, answer)
    assert run["finished"] and run["status"] == "failed"
    assert run["error"] == answer["detail"] and run["error_code"] == "bad_request"


async def test_an_invalid_after_repairs_run_reads_back_as_invalid(http: httpx.AsyncClient) -> None:
    resp = await http.post("/api/workflow/generate", json={"prompt": "a fox, 2 seconds", "max_repairs": 1})
    assert resp.status_code == 400, resp.text
    answer = resp.json()
    assert answer["code"] == "invalid_workflow"
    run = await recorded(http, answer)
    assert run["finished"] and run["status"] == "invalid"
    assert run["error"] == "the workflow is still invalid after the allowed repairs"
    assert run["error_code"] == "invalid_workflow"
    assert run["validation"] is not None and not run["validation"]["ok"]
