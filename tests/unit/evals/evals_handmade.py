"""Hand-made graphs with known answers, and small fakes of the pieces a run plugs together."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from evals.scoring import Problem
from evals.system import SystemOutput

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "comfyui" / "samples"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


def hunyuan_t2v(
    *,
    text: str = "a red fox in the snow",
    width: int = 1280,
    height: int = 720,
    frames: int = 121,
    fps: float = 24,
    seed: int = 1,
) -> dict[str, Any]:
    """The official HunyuanVideo text-to-video graph with the given values."""
    g = copy.deepcopy(load("09_hunyuan_t2v_official.prompt.json"))
    g["44"]["inputs"]["text"] = text
    g["45"]["inputs"].update(width=width, height=height, length=frames)
    g["79"]["inputs"]["fps"] = fps
    g["25"]["inputs"]["noise_seed"] = seed
    return g


def red_video(frames: int = 49, fps: float = 24) -> dict[str, Any]:
    """A weight-free text-to-video graph: solid red frames -> CreateVideo -> SaveVideo."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 64, "height": 64, "batch_size": frames, "color": 0xFF0000},
        },
        "2": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": fps}},
        "3": {
            "class_type": "SaveVideo",
            "inputs": {"video": ["2", 0], "filename_prefix": "eval/red", "format": "mp4", "codec": "h264"},
        },
    }


KNOWN = {
    "EmptyImage",
    "CreateVideo",
    "SaveVideo",
    "SaveImage",
    "DualCLIPLoader",
    "UNETLoader",
    "VAELoader",
    "CLIPTextEncode",
    "EmptyHunyuanLatentVideo",
    "KSamplerSelect",
    "BasicScheduler",
    "BasicGuider",
    "ModelSamplingSD3",
    "RandomNoise",
    "SamplerCustomAdvanced",
    "FluxGuidance",
    "VAEDecodeTiled",
    "LoadImage",
    "ImageScale",
}


def fake_validator(workflow: Mapping[str, Any]) -> list[Problem]:
    """Unknown classes are errors; model files are `value_not_in_list` (as a catalog with no files says)."""
    out = []
    for node_id, node in workflow.items():
        if node["class_type"] not in KNOWN:
            out.append(
                Problem(
                    type="invalid_prompt",
                    message=f"unknown {node['class_type']}",
                    node_id=node_id,
                    class_type=node["class_type"],
                )
            )
        for name, value in node["inputs"].items():
            if isinstance(value, str) and value.endswith(".safetensors"):
                out.append(
                    Problem(
                        type="value_not_in_list",
                        message="not in list",
                        node_id=node_id,
                        class_type=node["class_type"],
                        input_name=name,
                        received_value=value,
                    )
                )
            if node["class_type"] == "LoadImage" and name == "image" and value != "known.png":
                out.append(
                    Problem(
                        type="value_not_in_list",
                        message="not in list",
                        node_id=node_id,
                        class_type="LoadImage",
                        input_name=name,
                        received_value=value,
                    )
                )
    return out


class HandSystem:
    """A system under test that answers each prompt with a hand-made graph (or an error)."""

    def __init__(self, answers: Mapping[str, Any], *, intent: Mapping[str, Any] | None = None) -> None:
        self.answers = dict(answers)
        self.intent = dict(intent) if intent else None
        self.calls: list[str] = []
        self.seen_inputs: list[dict[str, str]] = []

    async def __call__(self, prompt: str, inputs: Mapping[str, str]) -> SystemOutput:
        self.calls.append(prompt)
        self.seen_inputs.append(dict(inputs))
        answer = self.answers[prompt]
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, SystemOutput):
            return answer
        return SystemOutput(workflow=copy.deepcopy(answer), intent=self.intent, latency_ms=10.0)


@pytest.fixture
def t2v_graph() -> dict[str, Any]:
    return hunyuan_t2v()
