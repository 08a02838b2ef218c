"""Pick the agents' strategies from an `LLMConfig`: the planner without one, the LLM (with an optional
fallback to the planner when the endpoint fails) with one."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.errors import LLMError
from agents.flow import FlowAgent, LLMFlow, PlannerFlow, TemplateSource
from agents.intent import Intent
from agents.linklist import LinkList
from agents.llm import LLMClient, LLMConfig
from agents.refine import LLMChooser, NodeChooser, PlannerChooser
from agents.reformat import LLMReformat, PlannerReformat, ReformatAgent
from node_catalog import Catalog, NodeSpec

log = logging.getLogger(__name__)


class FallbackReformat:
    def __init__(self, primary: LLMReformat, fallback: PlannerReformat) -> None:
        self.primary, self.fallback = primary, fallback
        self.name = "llm"

    async def reformat(self, prompt: str, overrides: Mapping[str, Any] | None = None) -> Intent:
        try:
            self.name = "llm"
            return await self.primary.reformat(prompt, overrides)
        except LLMError as exc:
            log.warning("LLM reformat failed (%s); falling back to the planner", exc.message)
            self.name = f"planner (LLM failed: {exc.message})"
            return await self.fallback.reformat(prompt, overrides)


class FallbackFlow:
    def __init__(self, primary: LLMFlow, fallback: PlannerFlow) -> None:
        self.primary, self.fallback = primary, fallback
        self.name = "llm"

    async def flow(
        self, intent: Intent, models: Mapping[str, Sequence[str]] | None = None
    ) -> tuple[LinkList, str | None]:
        try:
            self.name = "llm"
            return await self.primary.flow(intent, models)
        except LLMError as exc:
            log.warning("LLM flow failed (%s); falling back to the planner", exc.message)
            self.name = f"planner (LLM failed: {exc.message})"
            return await self.fallback.flow(intent, models)


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


def make_strategies(llm: LLMConfig | None, catalog: Catalog, templates: TemplateSource) -> Strategies:
    planner_reformat, planner_flow = PlannerReformat(), PlannerFlow(templates, catalog)
    if llm is None or not (llm.base_url or llm.api_key):
        return Strategies(planner_reformat, planner_flow, PlannerChooser(), None)
    client = LLMClient(llm)
    reformat, flow, chooser = LLMReformat(client), LLMFlow(client, templates, catalog), LLMChooser(client)
    if llm.fallback_to_planner:
        return Strategies(
            FallbackReformat(reformat, planner_reformat),
            FallbackFlow(flow, planner_flow),
            FallbackChooser(chooser),
            client,
        )
    return Strategies(reformat, flow, chooser, client)
