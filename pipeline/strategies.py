"""Pick the agents' strategies from an `LLMConfig`: the planner without one, the LLM (with the planner as
fallback when `fallback_to_planner`, applied by the graph's nodes) with one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from agents.choosers import LLMChooser, NodeChooser, PlannerChooser
from agents.compose import LLMPlanner, Planner
from agents.errors import LLMError
from agents.flow import FlowAgent, LLMFlow, PlannerFlow, TemplateSource
from agents.llm import LLMClient, LLMConfig
from agents.reformat import LLMReformat, PlannerReformat, ReformatAgent
from node_catalog import NodeSpec

log = logging.getLogger(__name__)


class FallbackChooser:
    def __init__(self, primary: LLMChooser) -> None:
        self.primary = primary
        self.name = "llm"

    async def choose(self, unknown: str, candidates: list[NodeSpec], context: dict[str, Any]) -> str:
        try:
            return await self.primary.choose(unknown, candidates, context)
        except LLMError:
            return await PlannerChooser().choose(unknown, candidates, context)


@dataclass
class Strategies:
    reformat: ReformatAgent
    flow: FlowAgent
    chooser: NodeChooser
    llm: LLMClient | None
    # the LLM's plan of operations, asked only for requests the deterministic planner reads as a composition
    # (its own fallback to that planner when allowed)
    llm_planner: LLMPlanner | None
    # planner strategies the graph falls back to when the LLM fails (fallback_to_planner)
    fallback_reformat: ReformatAgent | None = None
    fallback_flow: FlowAgent | None = None


def make_strategies(llm: LLMConfig | None, templates: TemplateSource) -> Strategies:
    """Built once per generator (it opens the one LLM client); catalog-free, so they serve every run."""
    planner_reformat, planner_flow = PlannerReformat(), PlannerFlow(templates)
    if llm is None or not (llm.base_url or llm.api_key):
        return Strategies(planner_reformat, planner_flow, PlannerChooser(), None, None)
    client = LLMClient(llm)
    reformat, flow, chooser = LLMReformat(client), LLMFlow(client, templates), LLMChooser(client)
    if llm.fallback_to_planner:
        planner = LLMPlanner(client, fallback=Planner())
        return Strategies(
            reformat, flow, FallbackChooser(chooser), client, planner, planner_reformat, planner_flow
        )
    return Strategies(reformat, flow, chooser, client, LLMPlanner(client))
