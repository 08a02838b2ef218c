"""The LLM strategy through the real `openai` client against a scripted local OpenAI-compatible server."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from llm_server import ScriptedLLM, enum_choices, schema_name

from agents.errors import LLMBadAnswer, LLMUnavailable
from agents.llm import LLMClient, LLMConfig
from agents.reformat import LLMReformat
from node_catalog import Catalog
from pipeline import GenerationRequest, Generator

INTENT = {"task": "test-video", "prompt": "solid red frames", "duration": 2, "color": 16711680}

# A test-video link list with one fault of each kind: an invented node, a wrong link type, wrong values.
BROKEN_LINK_LIST = {
    "nodes": {
        "EmptyImageSolid_0": {"class_type": "EmptyImageSolid", "inputs": {"width": 330, "height": 240}},
        "RepeatImageBatch_0": {"class_type": "RepeatImageBatch", "inputs": {"amount": 0}},
        "CreateVideo_0": {"class_type": "CreateVideo", "inputs": {"fps": 500}},
        "SaveVideo_0": {"class_type": "SaveVideo", "inputs": {"format": "mkv", "codec": "h264"}},
    },
    "links": [
        ["EmptyImageSolid_0", "IMAGE", "RepeatImageBatch_0", "image"],
        ["RepeatImageBatch_0", "IMAGE", "CreateVideo_0", "images"],
        # wrong type: an IMAGE into SaveVideo's VIDEO input
        ["RepeatImageBatch_0", "IMAGE", "SaveVideo_0", "video"],
    ],
}


def router(link_list: dict[str, Any], pick: int = 0) -> Any:
    def reply(body: dict[str, Any]) -> str:
        name = schema_name(body)
        if name == "intent":
            return json.dumps(INTENT)
        if name == "link_list":
            return json.dumps(link_list)
        if name == "choice":
            return json.dumps({"node": enum_choices(body)[pick], "reason": "fits the links"})
        raise AssertionError(f"unexpected request {body}")

    return reply


def config(server: ScriptedLLM, **kw: Any) -> LLMConfig:
    return LLMConfig(base_url=server.url, api_key="test-key", model="scripted", timeout=5, **kw)


async def test_malformed_json_is_retried_with_the_error(llm_server: ScriptedLLM) -> None:
    llm_server.reset("{not json", "```json\n" + json.dumps(INTENT) + "\n```")
    client = LLMClient(config(llm_server))
    intent = await LLMReformat(client).reformat("make a 2-second test video of solid red frames")
    await client.aclose()
    assert intent.task == "test-video" and intent.frames == 48 and intent.color == 0xFF0000
    assert len(llm_server.requests) == 2
    retry = llm_server.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "{not json"}
    assert "not valid JSON" in retry[-1]["content"]
    assert llm_server.requests[0]["response_format"]["type"] == "json_schema"


async def test_schema_violation_is_retried_then_gives_up(llm_server: ScriptedLLM) -> None:
    bad = json.dumps({"task": "make-a-movie"})
    llm_server.reset(bad, bad, bad)
    client = LLMClient(config(llm_server, max_retries=2))
    with pytest.raises(LLMBadAnswer, match="does not match the schema at task"):
        await LLMReformat(client).reformat("something")
    await client.aclose()
    assert len(llm_server.requests) == 3


async def test_json_mode_when_the_server_refuses_json_schema(llm_server: ScriptedLLM) -> None:
    refusal = (400, {"error": {"message": "response_format json_schema is not supported", "type": "invalid"}})
    llm_server.reset(refusal, json.dumps(INTENT))
    client = LLMClient(config(llm_server))
    intent = await LLMReformat(client).reformat("red test video")
    await client.aclose()
    assert intent.task == "test-video"
    assert [r["response_format"]["type"] for r in llm_server.requests] == ["json_schema", "json_object"]
    assert '"task"' in llm_server.requests[1]["messages"][0]["content"]  # the schema is in the prompt


async def test_pipeline_repairs_an_llm_link_list(llm_server: ScriptedLLM) -> None:
    llm_server.reset(default=router(BROKEN_LINK_LIST))
    generator = Generator(Catalog.bundled(), llm=config(llm_server))
    result = await generator.generate(
        GenerationRequest(prompt="make a 2-second test video of solid red frames")
    )
    assert result.error is None, result.error
    assert result.validation and result.validation["ok"], result.validation
    workflow = result.workflow or {}
    by_class = {n["class_type"]: n["inputs"] for n in workflow.values()}
    assert "EmptyImageSolid" not in by_class
    assert by_class["EmptyImage"]["color"] == 0xFF0000  # filled from the intent
    assert by_class["EmptyImage"]["width"] % 16 == 0  # 330 -> on the grid (intent's 320x240)
    assert by_class["RepeatImageBatch"]["amount"] == 48  # from duration 2 s x 24 fps
    assert by_class["CreateVideo"]["fps"] == 24.0
    assert by_class["SaveVideo"]["format"] in ("auto", "mp4")  # "mkv" is not an option
    # the IMAGE -> SaveVideo.video link was rerouted to the VIDEO CreateVideo makes
    save_video = by_class["SaveVideo"]["video"]
    assert workflow[save_video[0]]["class_type"] == "CreateVideo"
    fixes = [f for r in result.repairs for f in r["fixes"]]
    assert any("EmptyImageSolid replaced by EmptyImage" in f for f in fixes), fixes
    assert any("rerouted" in f for f in fixes), fixes
    assert [s["strategy"] for s in result.steps[:3]] == ["llm", "llm", "llm"]
    assert [s["details"].get("llm_calls") for s in result.steps[:3]] == [1, 1, 1]
    assert result.steps[0]["details"]["llm_tokens"] == 2
    choice = next(r for r in llm_server.requests if schema_name(r) == "choice")
    assert len(enum_choices(choice)) == 5


async def test_choice_outside_the_candidates_is_rejected(llm_server: ScriptedLLM) -> None:
    outside = json.dumps({"node": "TotallyMadeUpNode"})
    replies = router(BROKEN_LINK_LIST)
    llm_server.reset(replies, replies, outside, default=replies)
    generator = Generator(Catalog.bundled(), llm=config(llm_server))
    result = await generator.generate(GenerationRequest(prompt="red test video, 2 seconds"))
    assert result.error is None, result.error
    choices = [r for r in llm_server.requests if schema_name(r) == "choice"]
    assert len(choices) == 2  # the outside answer was refused and asked again
    assert "is not one of" in choices[1]["messages"][-1]["content"]
    assert any(n["class_type"] == "EmptyImage" for n in (result.workflow or {}).values())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_llm_is_a_clear_error() -> None:
    cfg = LLMConfig(
        base_url=f"http://127.0.0.1:{_closed_port()}/v1", api_key="k", timeout=2, fallback_to_planner=False
    )
    client = LLMClient(cfg)
    with pytest.raises(LLMUnavailable, match="unreachable"):
        await LLMReformat(client).reformat("a cat surfing")
    await client.aclose()
    result = await Generator(Catalog.bundled(), llm=cfg).generate(GenerationRequest(prompt="a cat surfing"))
    assert result.error is not None and "unreachable" in result.error
    assert result.workflow is None


async def test_unreachable_llm_falls_back_to_the_planner() -> None:
    cfg = LLMConfig(
        base_url=f"http://127.0.0.1:{_closed_port()}/v1", api_key="k", timeout=2, fallback_to_planner=True
    )
    result = await Generator(Catalog.bundled(), llm=cfg).generate(
        GenerationRequest(prompt="a cat surfing, 3 seconds, 720p")
    )
    assert result.error is None and result.validation and result.validation["ok"]
    assert result.steps[0]["strategy"].startswith("planner (LLM failed")
    assert result.template == "hunyuan_t2v"
