"""Composition through the whole pipeline: the planner strategy and the LLM strategy (the real `openai` client
against the scripted local server) give the same kind of plan, and the composer builds one graph from it."""

from __future__ import annotations

import json
from typing import Any

from llm_server import ScriptedLLM, schema_name

from agents.llm import LLMConfig
from node_catalog import Catalog
from pipeline import GenerationRequest, Generator

EDIT_THEN_UPSCALE = {
    "steps": [
        {"op": "edit", "params": {"instruction": "remove the lamp post"}, "inputs": {"image": "street.png"}},
        {"op": "upscale", "params": {"factor": 2}, "inputs": {"image": "#1"}},
    ]
}
INTENT = {"task": "image-to-image", "prompt": "remove the lamp post", "input_image": "street.png"}


def _ops(result: Any) -> list[str]:
    return [step["op"] for step in (result.plan or {}).get("steps", [])]


def _classes(result: Any) -> set[str]:
    return {node["class_type"] for node in (result.workflow or {}).values()}


async def test_the_planner_composes_a_chain_and_keeps_single_templates() -> None:
    generator = Generator(Catalog.bundled())
    chained = await generator.generate(GenerationRequest(prompt="make a fox in the snow, then upscale it 3x"))
    assert chained.ok and chained.template is None and _ops(chained) == ["generate_image", "upscale"]
    assert {"EmptyLatentImage", "ImageScaleBy"} <= _classes(chained)
    assert any(s["agent"] == "flow" and s["strategy"] == "composer" for s in chained.steps)
    single = await generator.generate(GenerationRequest(prompt="a cat surfing, 3 seconds, 720p"))
    assert single.ok and single.template == "hunyuan_t2v" and single.plan is None


async def test_a_missing_node_pack_is_refused_by_name() -> None:
    result = await Generator(Catalog.bundled()).generate(
        GenerationRequest(prompt="make clip.mp4 slow motion", overrides={"input_video": "clip.mp4"})
    )
    assert result.error_code == "missing_capability" and result.workflow is None
    assert "RIFE VFI" in (result.error or "") and "Frame-Interpolation" in (result.error or "")


async def test_the_llm_plans_what_the_composer_builds(llm_server: ScriptedLLM) -> None:
    asked: list[str] = []

    def reply(body: dict[str, Any]) -> str:
        name = schema_name(body)
        asked.append(name)
        if name == "intent":
            return json.dumps(INTENT)
        if name == "plan":
            return json.dumps(EDIT_THEN_UPSCALE)
        raise AssertionError(f"unexpected request {name}")

    llm_server.reset(*([reply] * 4))
    config = LLMConfig(base_url=llm_server.url, api_key="k", model="scripted", timeout=5)
    async with Generator(Catalog.bundled(), llm=config) as generator:
        result = await generator.generate(
            GenerationRequest(
                prompt="erase the lamp post from street.png and then make it twice as big",
                overrides={"input_image": "street.png"},
            )
        )
    assert result.ok, result.error
    assert sorted(asked) == ["intent", "plan"]  # one plan call, no link list written by the LLM
    assert _ops(result) == ["edit", "upscale"]
    assert {"TextEncodeQwenImageEditPlus", "ImageScaleBy", "LoadImage"} <= _classes(result)
    reformat = next(s for s in result.steps if s["agent"] == "reformat")
    assert reformat["details"]["llm_calls"] == 2


async def test_an_llm_plan_that_invents_a_file_falls_back_to_the_planner(llm_server: ScriptedLLM) -> None:
    invented = {"steps": [{"op": "edit", "params": {"instruction": "x"}, "inputs": {"image": "other.png"}}]}

    def reply(body: dict[str, Any]) -> str:
        return json.dumps(INTENT if schema_name(body) == "intent" else invented)

    llm_server.reset(*([reply] * 4))
    config = LLMConfig(base_url=llm_server.url, api_key="k", model="scripted", timeout=5)
    async with Generator(Catalog.bundled(), llm=config) as generator:
        result = await generator.generate(
            GenerationRequest(prompt="erase the lamp post from street.png, then upscale it 2x")
        )
    assert result.ok and _ops(result) == ["edit", "upscale"]
    assert "planned deterministically" in " ".join((result.plan or {}).get("notes", []))
