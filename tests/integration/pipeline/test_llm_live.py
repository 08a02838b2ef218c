"""The LLM strategy end to end on the real ComfyUI: a scripted OpenAI-compatible server (real `openai`
client on the wire) writes a flawed link list; Refine repairs it; the job runs and its mp4 comes back."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.llm import LLMConfig
from comfyui_client import ComfyClient
from node_catalog import Catalog
from pipeline import GenerationRequest, Generator

pytestmark = pytest.mark.integration

_spec = importlib.util.spec_from_file_location(
    "pipeline_llm_server", Path(__file__).parents[2] / "unit" / "agents" / "llm_server.py"
)
assert _spec is not None and _spec.loader is not None
llm_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(llm_server)

INTENT = {
    "task": "test-video",
    "prompt": "solid magenta frames",
    "duration": 1,
    "color": 0xFF00FF,
    "width": 96,
    "height": 64,
}
FLAWED = {
    "nodes": {
        "SolidColorImage_0": {"class_type": "EmptyImageSolid", "inputs": {"width": 90}},
        "RepeatImageBatch_0": {"class_type": "RepeatImageBatch", "inputs": {}},
        "VideoCreate_0": {"class_type": "VideoCreate", "inputs": {"fps": "24"}},
    },
    "links": [
        ["SolidColorImage_0", "IMAGE", "RepeatImageBatch_0", "image"],
        ["RepeatImageBatch_0", "IMAGE", "VideoCreate_0", "images"],
    ],
}  # no output node at all


def reply(body: dict[str, Any]) -> str:
    name = llm_server.schema_name(body)
    if name == "intent":
        return json.dumps(INTENT)
    if name == "link_list":
        return json.dumps(FLAWED)
    return json.dumps({"node": llm_server.enum_choices(body)[0]})


@pytest.fixture(scope="module")
def scripted() -> Iterator[Any]:
    server = llm_server.ScriptedLLM().start()
    server.reset(default=reply)
    yield server
    server.stop()


async def test_llm_link_list_is_repaired_and_runs(comfyui: Any, scripted: Any) -> None:
    config = LLMConfig(
        base_url=scripted.url, api_key="k", model="scripted", timeout=5, fallback_to_planner=False
    )
    async with ComfyClient(comfyui.url) as client:
        async with Generator(await Catalog.live(client), llm=config, client=client) as generator:
            result = await generator.generate(
                GenerationRequest(
                    prompt="a one second magenta test clip", submit=True, wait=True, timeout=120
                )
            )
        assert result.error is None, (result.error, result.steps)
        assert result.status == "succeeded"
        classes = sorted(n["class_type"] for n in (result.workflow or {}).values())
        assert classes == ["CreateVideo", "EmptyImage", "RepeatImageBatch", "SaveVideo"]
        video = next(f for f in result.outputs if f["kind"] == "video")
        async with client.view(video["filename"], subfolder=video["subfolder"], type=video["type"]) as resp:
            assert (await resp.aread())[4:8] == b"ftyp"
    fixes = " ".join(f for r in result.repairs for f in r["fixes"])
    assert "EmptyImageSolid replaced by EmptyImage" in fixes and "added SaveVideo" in fixes
