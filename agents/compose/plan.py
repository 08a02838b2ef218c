"""`Plan`: the ordered steps a request asks for, its small JSON Schema, and schema-checked parsing.

A step's inputs name the request's input files ("photo.png") or an earlier step's output ("#1" is the first
step). The deterministic planner builds a Plan; the LLM strategy answers with one in this form.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agents.compose.errors import PlanError
from agents.compose.operations import OPERATION_NAMES, OPERATIONS, Operation

MAX_STEPS = 8
_STEP_REF = re.compile(r"^#(?P<n>[1-9])$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ /-]{0,199}$")

Ref = str


# The planner's note for a generation it put first because a step needs a picture or clip the request does not
# give ("animate a bridge"): a guess at what was meant, which callers may prefer to refuse (input_required).
IMPLICIT_SOURCE_NOTE = "generated first"


def step_ref(ref: str) -> int | None:
    """`"#2"` -> 1 (the index of the second step); None for a file name."""
    match = _STEP_REF.match(ref)
    return int(match.group("n")) - 1 if match else None


class Step(BaseModel):
    """One operation with its parameters and where each input port takes its data from."""

    model_config = ConfigDict(extra="forbid")

    op: Operation
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, Ref | list[Ref]] = Field(default_factory=dict)
    family: str | None = Field(None, max_length=40, description="model family asked for, e.g. flux")

    @field_validator("inputs")
    @classmethod
    def _refs(cls, value: dict[str, Ref | list[Ref]]) -> dict[str, Ref | list[Ref]]:
        for port, refs in value.items():
            for ref in [refs] if isinstance(refs, str) else refs:
                if step_ref(ref) is None and (not _FILE_NAME.match(ref) or ".." in ref):
                    raise ValueError(f"inputs.{port}: {ref!r} is neither a step ('#1') nor a plain file name")
        return value

    @model_validator(mode="after")
    def _typed(self) -> Step:
        spec = OPERATIONS[self.op]
        self.params = spec.params.model_validate(self.params).model_dump(exclude_none=True)
        unknown = sorted(set(self.inputs) - set(spec.inputs))
        if unknown:
            raise ValueError(
                f"{self.op} has no input {unknown[0]!r} (inputs: {sorted(spec.inputs) or 'none'})"
            )
        return self

    def typed_params(self) -> Any:
        return OPERATIONS[self.op].params.model_validate(self.params)

    def refs(self, port: str) -> list[str]:
        value = self.inputs.get(port)
        if value is None:
            return []
        return [value] if isinstance(value, str) else list(value)


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    notes: list[str] = Field(default_factory=list, description="what the planner read, for step logs")

    @property
    def implicit_source(self) -> bool:
        """Whether the planner generated a source the request did not ask for (see IMPLICIT_SOURCE_NOTE)."""
        return any(note.startswith(IMPLICIT_SOURCE_NOTE) for note in self.notes)

    @model_validator(mode="after")
    def _backward_refs(self) -> Plan:
        for idx, step in enumerate(self.steps):
            for port in step.inputs:
                for ref in step.refs(port):
                    n = step_ref(ref)
                    if n is None:
                        continue
                    if n >= idx:
                        raise ValueError(
                            f"step {idx + 1} ({step.op}) refers to {ref}, which is not an earlier step"
                        )
                    if OPERATIONS[self.steps[n].op].output is None:
                        raise ValueError(
                            f"step {idx + 1} refers to {ref} ({self.steps[n].op}), which has no output"
                        )
        if all(OPERATIONS[s.op].output is None for s in self.steps):
            raise ValueError("a plan needs at least one step that makes something (a LoRA alone does not)")
        return self

    def operations(self) -> list[str]:
        return [s.op for s in self.steps]

    def describe(self) -> str:
        return " -> ".join(s.op for s in self.steps)


PLAN_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["steps"],
    "properties": {
        "steps": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_STEPS,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["op"],
                "properties": {
                    "op": {"enum": list(OPERATION_NAMES)},
                    "params": {"type": "object"},
                    "inputs": {
                        "type": "object",
                        "description": "port -> input file or '#n' (output of step n), or a list of them",
                        "additionalProperties": {
                            "anyOf": [
                                {"type": "string", "maxLength": 200},
                                {
                                    "type": "array",
                                    "items": {"type": "string", "maxLength": 200},
                                    "maxItems": 8,
                                },
                            ]
                        },
                    },
                    "family": {"type": ["string", "null"], "maxLength": 40},
                },
            },
        },
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(PLAN_JSON_SCHEMA)


def parse_plan(answer: Any) -> Plan:
    """An LLM's answer (JSON text or already decoded) -> Plan; PlanError says what is wrong."""
    if isinstance(answer, (str, bytes)):
        try:
            answer = json.loads(answer)
        except json.JSONDecodeError as exc:
            raise PlanError(f"the plan is not JSON: {exc.msg}") from exc
    errors = sorted(_VALIDATOR.iter_errors(answer), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "plan"
        raise PlanError(f"the plan does not match its schema at {where}: {err.message}")
    try:
        return Plan.model_validate(answer)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "plan"
        raise PlanError(f"bad plan at {where}: {first['msg'].removeprefix('Value error, ')}") from exc
