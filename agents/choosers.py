"""How Refine replaces a node class the catalog does not have: the planner takes the best-fitting of the
closest real nodes, the LLM picks among the same candidates."""

from __future__ import annotations

import json
from typing import Any, Protocol

from agents.errors import RepairError
from agents.llm import LLMClient, load_prompt
from node_catalog import NodeSpec


class NodeChooser(Protocol):
    name: str

    async def choose(self, unknown: str, candidates: list[NodeSpec], context: dict[str, Any]) -> str: ...


class PlannerChooser:
    """The candidate whose inputs and outputs fit the links best; ties go to catalog.closest's order."""

    name = "planner"

    async def choose(self, unknown: str, candidates: list[NodeSpec], context: dict[str, Any]) -> str:
        need_in = context.get("input_types", [])
        need_out = context.get("output_types", [])

        def fit(spec: NodeSpec) -> int:
            have_in = [i.type for i in spec.inputs.values() if not i.is_widget]
            have_out = [o.type for o in spec.outputs]
            return sum(t in have_in for t in need_in) + sum(t in have_out for t in need_out)

        return max(candidates, key=lambda s: (fit(s), -candidates.index(s))).name


class LLMChooser:
    """The LLM picks one of the candidates; an answer outside them is rejected."""

    name = "llm"

    def __init__(self, llm: LLMClient) -> None:
        self.llm = llm

    async def choose(self, unknown: str, candidates: list[NodeSpec], context: dict[str, Any]) -> str:
        names = [c.name for c in candidates]
        schema = {
            "type": "object",
            "required": ["node"],
            "properties": {"node": {"type": "string", "enum": names}, "reason": {"type": "string"}},
        }
        described = [
            {
                "name": c.name,
                "description": c.description[:200],
                "inputs": {i.name: i.type for i in c.inputs.values() if i.section != "hidden"},
                "outputs": [o.type for o in c.outputs],
            }
            for c in candidates
        ]
        user = json.dumps({"unknown_node": unknown, "links": context, "candidates": described}, indent=1)
        answer = await self.llm.complete_json(
            system=load_prompt("refine.md"), user=user, schema=schema, name="choice"
        )
        choice = str(answer["node"])
        if choice not in names:  # the schema's enum already refuses it; kept for non-validating callers
            raise RepairError(f"the LLM chose {choice!r}, which is not one of the candidates {names}")
        return choice
