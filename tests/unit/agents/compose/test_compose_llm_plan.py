"""The LLM strategy answers with a Plan; tested against scripted replies of an OpenAI-compatible server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llm_server import ScriptedLLM

from agents.compose import PLAN_JSON_SCHEMA, PlanError, Planner, compose
from agents.compose.llm_plan import LLMPlanner
from agents.errors import LLMBadAnswer
from agents.llm import LLMClient, LLMConfig
from node_catalog import Catalog, validate

PLAN = {
    "steps": [
        {"op": "edit", "params": {"instruction": "erase the lamp post"}, "inputs": {"image": "photo.png"}},
        {"op": "outpaint", "params": {"right": 200}, "inputs": {"image": "#1"}},
        {"op": "upscale", "params": {"factor": 2}, "inputs": {"image": "#2"}},
    ]
}


def _client(server: ScriptedLLM, **kw: Any) -> LLMClient:
    return LLMClient(LLMConfig(base_url=server.url, api_key="k", model="scripted", timeout=5, **kw))


async def test_the_llm_plan_is_composed(llm_server: ScriptedLLM) -> None:
    llm_server.reset(json.dumps(PLAN))
    client = _client(llm_server)
    plan = await LLMPlanner(client).plan("erase the lamp post, widen right by 200, upscale 2x", ["photo.png"])
    await client.aclose()
    assert plan.operations() == ["edit", "outpaint", "upscale"]
    request = llm_server.requests[0]
    assert request["response_format"]["json_schema"]["schema"] == PLAN_JSON_SCHEMA
    user = json.loads(request["messages"][-1]["content"])
    assert user["files"] == {"photo.png": ""} and "outpaint" in user["operations"]
    comp = compose(plan, Catalog.bundled())
    assert validate(comp.workflow, Catalog.bundled(), models={**comp.models, "input": comp.input_files}).ok


async def test_a_schema_violation_is_retried(llm_server: ScriptedLLM) -> None:
    llm_server.reset(json.dumps({"steps": [{"op": "teleport"}]}), json.dumps(PLAN))
    client = _client(llm_server)
    plan = await LLMPlanner(client).plan("edit it", ["photo.png"])
    await client.aclose()
    assert plan.operations() == ["edit", "outpaint", "upscale"]
    assert "does not match the schema" in llm_server.requests[1]["messages"][-1]["content"]


async def test_rule_breaking_answers_fall_back_to_the_planner_or_fail(llm_server: ScriptedLLM) -> None:
    forward = {"steps": [{"op": "upscale", "inputs": {"image": "#2"}}, {"op": "generate_image"}]}
    invented = {"steps": [{"op": "upscale", "inputs": {"image": "someone_elses.png"}}]}
    for bad in (forward, invented):
        llm_server.reset(json.dumps(bad))
        client = _client(llm_server)
        with pytest.raises(PlanError):
            await LLMPlanner(client).plan("upscale photo.png 2x", ["photo.png"])
        llm_server.reset(json.dumps(bad))
        plan = await LLMPlanner(client, fallback=Planner()).plan("upscale photo.png 2x", ["photo.png"])
        await client.aclose()
        assert plan.operations() == ["upscale"] and plan.steps[0].inputs == {"image": "photo.png"}
        assert "planned deterministically" in plan.notes[-1]


async def test_an_llm_that_never_answers_well(llm_server: ScriptedLLM) -> None:
    llm_server.reset("nope", "still nope")
    client = _client(llm_server, max_retries=1)
    with pytest.raises(LLMBadAnswer):
        await LLMPlanner(client).plan("make a fox")
    llm_server.reset("nope", "still nope")
    plan = await LLMPlanner(client, fallback=Planner()).plan("make a fox, then upscale it 3x")
    await client.aclose()
    assert plan.operations() == ["generate_image", "upscale"]
