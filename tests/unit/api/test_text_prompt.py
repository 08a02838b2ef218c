from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.errors import BadRequest
from api.text_prompt import apply_text_prompt

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "comfyui" / "samples"


def test_fills_the_positive_encoder_of_the_hunyuan_graph() -> None:
    graph = json.loads((SAMPLES / "09_hunyuan_t2v_official.prompt.json").read_text())
    out = apply_text_prompt(graph, "a fox in the snow")
    changed = [nid for nid in graph if graph[nid] != out[nid]]
    assert len(changed) == 1 and out[changed[0]]["class_type"] == "CLIPTextEncode"
    assert out[changed[0]]["inputs"]["text"] == "a fox in the snow"
    assert graph != out  # the input graph is not modified in place


def test_positive_and_negative_encoders_pick_positive() -> None:
    graph = {
        "1": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["9", 0]}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["9", 0]}},
        "3": {"class_type": "KSampler", "inputs": {"positive": ["1", 0], "negative": ["2", 0]}},
    }
    out = apply_text_prompt(graph, "hello")
    assert out["1"]["inputs"]["text"] == "hello" and out["2"]["inputs"]["text"] == ""


def test_no_encoder_or_ambiguous_is_a_clear_400() -> None:
    with pytest.raises(BadRequest, match="no text-encode node"):
        apply_text_prompt({"1": {"class_type": "EmptyImage", "inputs": {}}}, "x")
    two = {str(i): {"class_type": "CLIPTextEncode", "inputs": {"text": ""}} for i in (1, 2)}
    with pytest.raises(BadRequest, match="no single positive"):
        apply_text_prompt(two, "x")
