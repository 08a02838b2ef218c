"""The Plan's JSON Schema (what the LLM strategy answers) and its schema-checked parsing."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from agents.compose import OPERATION_NAMES, PLAN_JSON_SCHEMA, Plan, PlanError, operations_for_llm, parse_plan


def test_schema_is_valid_and_small() -> None:
    jsonschema.Draft202012Validator.check_schema(PLAN_JSON_SCHEMA)
    assert len(json.dumps(PLAN_JSON_SCHEMA)) < 2000
    assert PLAN_JSON_SCHEMA["properties"]["steps"]["items"]["properties"]["op"]["enum"] == list(
        OPERATION_NAMES
    )


def test_a_scripted_answer_parses_from_text_and_from_objects() -> None:
    answer = {
        "steps": [
            {"op": "generate_image", "params": {"prompt": "a fox in the snow", "width": 768}},
            {"op": "upscale", "params": {"factor": 3}, "inputs": {"image": "#1"}},
            {"op": "image_to_video", "params": {"seconds": 3}, "inputs": {"image": "#2"}, "family": "wan21"},
        ]
    }
    for raw in (answer, json.dumps(answer), json.dumps(answer).encode()):
        plan = parse_plan(raw)
        assert plan.operations() == ["generate_image", "upscale", "image_to_video"]
        assert plan.steps[1].params["factor"] == 3.0
        assert plan.steps[2].family == "wan21"
    # a Plan round-trips through its own JSON
    assert parse_plan(plan.model_dump_json(exclude={"notes"})).model_dump() == plan.model_dump()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("not json", "not JSON"),
        ([], "schema"),
        ({"steps": []}, "schema"),
        ({"steps": [{"op": "teleport"}]}, "schema"),
        ({"steps": [{"op": "upscale", "extra": 1}]}, "schema"),
        ({"steps": [{"op": "upscale", "inputs": {"image": 3}}]}, "schema"),
        ({"steps": [{"op": "upscale", "params": {"factor": 99}}]}, "factor"),
        ({"steps": [{"op": "upscale", "params": {"speed": 2}}]}, "speed"),
        ({"steps": [{"op": "outpaint", "params": {}}]}, "at least one side"),
        ({"steps": [{"op": "edit", "params": {}}]}, "instruction"),
        ({"steps": [{"op": "upscale", "inputs": {"picture": "a.png"}}]}, "no input"),
        ({"steps": [{"op": "upscale", "inputs": {"image": "#1"}}]}, "not an earlier step"),
        ({"steps": [{"op": "upscale", "inputs": {"image": "../etc/passwd.png"}}]}, "file name"),
        ({"steps": [{"op": "lora", "params": {"name": "x"}}]}, "makes something"),
        (
            {
                "steps": [
                    {"op": "lora", "params": {"name": "x"}},
                    {"op": "upscale", "inputs": {"image": "#1"}},
                ]
            },
            "no output",
        ),
        ({"steps": [{"op": "generate_image"}] * 9}, "schema"),
    ],
)
def test_bad_answers_are_refused_with_a_reason(answer: Any, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        parse_plan(answer)


def test_operations_for_llm_lists_ports_and_params() -> None:
    ops = operations_for_llm()
    assert set(ops) == set(OPERATION_NAMES)
    assert ops["outpaint"]["inputs"] == {"image": {"types": ["IMAGE"], "required": True, "many": False}}
    assert "factor" in ops["upscale"]["params"]  # type: ignore[operator]
    json.dumps(ops)


def test_step_params_are_typed() -> None:
    plan = Plan.model_validate(
        {"steps": [{"op": "control", "params": {"kind": "pose"}, "inputs": {"reference": "a.png"}}]}
    )
    assert plan.steps[0].typed_params().kind == "pose"
    assert plan.describe() == "control"
