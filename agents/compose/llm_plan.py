"""The LLM strategy of planning: the model answers with a `Plan` (PLAN_JSON_SCHEMA), schema-checked, and the
composer builds the graph from it as from the deterministic planner's."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources

from agents.compose.errors import PlanError
from agents.compose.extract import MAX_CHARS
from agents.compose.operations import operations_for_llm
from agents.compose.plan import PLAN_JSON_SCHEMA, Plan, parse_plan
from agents.compose.planner import Planner
from agents.errors import LLMError
from agents.llm import LLMClient


def plan_prompt() -> str:
    return resources.files("agents.compose").joinpath("prompts", "plan.md").read_text(encoding="utf-8")


class LLMPlanner:
    """Asks the LLM for a plan; with `fallback` (the deterministic planner) a failing LLM or an answer that
    breaks the plan's rules gives the planner's plan instead of an error."""

    name = "llm"

    def __init__(self, llm: LLMClient, *, fallback: Planner | None = None) -> None:
        self.llm = llm
        self.fallback = fallback

    async def plan(self, text: str, files: Mapping[str, str] | Sequence[str] = ()) -> Plan:
        kinds = dict(files) if isinstance(files, Mapping) else {name: "" for name in files}
        user = json.dumps(
            {"request": text[:MAX_CHARS], "files": kinds, "operations": operations_for_llm()}, indent=1
        )
        try:
            answer = await self.llm.complete_json(
                system=plan_prompt(), user=user, schema=PLAN_JSON_SCHEMA, name="plan"
            )
            plan = parse_plan(answer)
            invented = sorted(
                ref
                for step in plan.steps
                for port in step.inputs
                for ref in step.refs(port)
                if not ref.startswith("#") and ref not in kinds and ref not in text
            )
            if invented:
                raise PlanError(
                    f"the plan names input files the request does not give: {', '.join(invented)}"
                )
        except (LLMError, PlanError):
            if self.fallback is None:
                raise
            plan = self.fallback.plan(text, files)
            plan.notes.append("the LLM gave no usable plan: planned deterministically")
        return plan
