"""Generation checkpoints: the saver records LangGraph runs, keeps the newest `keep`; the route reads them.

A tiny two-node LangGraph stands in for the pipeline (same saver API, no LLM or ComfyUI needed)."""

from __future__ import annotations

import operator
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import httpx
import pytest
from fastapi import FastAPI
from langgraph.graph import END, START, StateGraph

from api.auth import KeyRing
from api.auth.middleware import RequireKey
from api.errors import install_error_handlers
from api.jobs.store import JobStore
from api.routes import generation_runs
from api.run_history import PruningSqliteSaver, open_checkpoints


class State(TypedDict, total=False):
    request: dict[str, Any]
    status: str
    workflow: dict[str, Any] | None
    steps: Annotated[list[dict[str, Any]], operator.add]


def plan(state: State) -> dict[str, Any]:
    return {"steps": [{"agent": "plan", "summary": state["request"]["prompt"]}], "status": "running"}


def finish(state: State) -> dict[str, Any]:
    graph = {"1": {"class_type": "EmptyImage", "inputs": {}}}
    return {"steps": [{"agent": "finish"}], "workflow": graph, "status": "valid"}


def compiled(saver: PruningSqliteSaver, *, interrupt: bool = False) -> Any:
    graph = StateGraph(State)
    graph.add_node("plan", plan)
    graph.add_node("finish", finish)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "finish")
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=saver, interrupt_before=["finish"] if interrupt else None)


async def run(saver: PruningSqliteSaver, thread_id: str, *, interrupt: bool = False) -> None:
    initial: State = {"request": {"prompt": f"run {thread_id}"}, "status": "running", "steps": []}
    await compiled(saver, interrupt=interrupt).ainvoke(initial, {"configurable": {"thread_id": thread_id}})


@pytest.fixture
async def saver(tmp_path: Path) -> AsyncIterator[PruningSqliteSaver]:
    async with open_checkpoints(tmp_path / "sub" / "checkpoints.db", keep=3) as s:
        yield s


async def rows(saver: PruningSqliteSaver, table: str) -> set[str]:
    async with saver.conn.execute(f"SELECT DISTINCT thread_id FROM {table}") as cur:
        return {str(r[0]) for r in await cur.fetchall()}


async def test_a_run_is_recorded_and_read_back(saver: PruningSqliteSaver) -> None:
    await run(saver, "t1")
    recorded = await saver.run("t1")
    assert recorded is not None
    values = recorded["values"]
    assert values["status"] == "valid" and values["request"] == {"prompt": "run t1"}
    assert [s["agent"] for s in values["steps"]] == ["plan", "finish"]
    assert recorded["checkpoints"] >= 3 and recorded["started_at"] <= recorded["updated_at"]
    assert await saver.run("unknown") is None


async def test_only_the_newest_runs_are_kept(saver: PruningSqliteSaver) -> None:
    for i in range(7):
        await run(saver, f"t{i}")
    assert await saver.thread_ids() == ["t6", "t5", "t4"]
    assert await saver.run("t0") is None
    # Pending writes go with their checkpoints.
    assert await rows(saver, "checkpoints") == {"t4", "t5", "t6"}
    assert await rows(saver, "writes") <= {"t4", "t5", "t6"}


async def test_reopening_with_a_smaller_bound_prunes_at_once(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    async with open_checkpoints(path, keep=10) as saver:
        for i in range(5):
            await run(saver, f"t{i}")
    async with open_checkpoints(path, keep=2) as saver:
        assert await saver.thread_ids() == ["t4", "t3"]


async def test_a_stopped_run_stays_resumable(saver: PruningSqliteSaver) -> None:
    await run(saver, "paused", interrupt=True)
    recorded = await saver.run("paused")
    assert recorded is not None and recorded["values"]["status"] == "running"
    await compiled(saver, interrupt=True).ainvoke(None, {"configurable": {"thread_id": "paused"}})
    resumed = await saver.run("paused")
    assert resumed is not None and resumed["values"]["status"] == "valid"


async def test_keep_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        async with open_checkpoints(tmp_path / "c.db", keep=0):
            pass


async def test_the_route_shows_a_run_and_404s_unknown_ones(saver: PruningSqliteSaver, tmp_path: Path) -> None:
    await run(saver, "t-route")
    await run(saver, "t-paused", interrupt=True)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(generation_runs.router)
    app.add_middleware(RequireKey, keyring=KeyRing(), allowed_origins=[])  # no key: the gateway runs open
    app.state.checkpoints = saver
    app.state.store = store = JobStore(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    await store.open()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test") as http:
        resp = await http.get("/api/workflow/generate/t-route")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["thread_id"] == "t-route" and body["status"] == "valid" and body["finished"]
        assert [s["agent"] for s in body["steps"]] == ["plan", "finish"]
        assert body["request"] == {"prompt": "run t-route"} and body["workflow"]["1"]["class_type"]
        assert body["prompt_id"] is None and body["repairs"] == [] and body["outputs"] == []
        paused = (await http.get("/api/workflow/generate/t-paused")).json()
        assert paused["status"] == "running" and not paused["finished"] and paused["workflow"] is None
        missing = await http.get("/api/workflow/generate/nope")
        assert missing.status_code == 404 and "CHECKPOINT_KEEP" in missing.json()["detail"]
    await store.close()
