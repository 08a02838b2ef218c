"""`Generator`: the facade over the pipeline graph (generate, stream, resume), built once and shared.

Construction opens what is app-wide (strategies with the one LLM client, the compiled graph); each run brings
its own values (`executor=`, `catalog=`), which reach the nodes as LangGraph's runtime context.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.runnables import RunnableConfig

from agents.execute import Executor
from agents.llm import LLMConfig
from comfyui_client import ComfyClient
from node_catalog import Catalog
from pipeline.builder import compile_graph
from pipeline.context import CatalogSource, FixedCatalog, ModelSource, RunContext
from pipeline.nodes import PipelineNodes
from pipeline.state import GenerationRequest, GenerationResult, PipelineState
from pipeline.strategies import make_strategies
from pipeline.templates import TemplateLibrary

_RECURSION_LIMIT = 64  # 5 agents x (1 + max 10 repairs) fits


class Generator:
    """Plain-language request -> validated (and optionally submitted and repaired) ComfyUI workflow.

    `catalog` is a `Catalog` (used for every run) or a source such as `node_catalog.CatalogProvider` (asked
    for the current catalog at the start of each run); `executor` is the default for runs that bring none;
    `models` lists the model files plans may use (default: `client`'s).
    """

    def __init__(
        self,
        catalog: Catalog | CatalogSource,
        *,
        llm: LLMConfig | None = None,
        executor: Executor | None = None,
        client: ComfyClient | None = None,
        checkpointer: Any = None,
        templates: TemplateLibrary | None = None,
        models: ModelSource | None = None,
    ) -> None:
        catalogs = FixedCatalog(catalog) if isinstance(catalog, Catalog) else catalog
        self.templates = templates or TemplateLibrary.bundled()
        self._strategies = make_strategies(llm, self.templates)
        self._nodes = PipelineNodes(catalogs, self._strategies, self.templates, client, executor, models)
        self.graph = compile_graph(self._nodes, checkpointer)
        self._checkpointed = checkpointer is not None

    async def aclose(self) -> None:
        """Close the LLM client, if any (also `async with Generator(...)`)."""
        if self._strategies.llm is not None:
            await self._strategies.llm.aclose()

    async def __aenter__(self) -> Generator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _config(self, thread_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": _RECURSION_LIMIT}

    @staticmethod
    def _initial(request: GenerationRequest) -> PipelineState:
        return PipelineState(
            request=request.as_state(),
            attempts=0,
            executions=0,
            status="running",
            error=None,
            bad_models=[],
        )

    async def context(
        self, *, executor: Executor | None = None, catalog: Catalog | None = None
    ) -> RunContext:
        """One run's context: the given values, else the current catalog and the default executor."""
        return await self._nodes.context(catalog=catalog, executor=executor)

    async def generate(
        self,
        request: GenerationRequest,
        *,
        thread_id: str | None = None,
        executor: Executor | None = None,
        catalog: Catalog | None = None,
    ) -> GenerationResult:
        tid = thread_id or str(uuid.uuid4())
        context = await self.context(executor=executor, catalog=catalog)
        state = await self.graph.ainvoke(self._initial(request), self._config(tid), context=context)
        return GenerationResult.from_state(state, thread_id=tid)

    async def stream(
        self,
        request: GenerationRequest,
        *,
        thread_id: str | None = None,
        executor: Executor | None = None,
        catalog: Catalog | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """One item per agent step (`{"event": "step", "node", "step"}`), then the `result` item."""
        tid = thread_id or str(uuid.uuid4())
        context = await self.context(executor=executor, catalog=catalog)
        final: dict[str, Any] = dict(self._initial(request))
        async for mode, chunk in self.graph.astream(
            self._initial(request), self._config(tid), context=context, stream_mode=["updates", "values"]
        ):
            if not isinstance(chunk, dict):
                continue
            if mode == "values":  # the state as the graph's reducers made it
                final = chunk
                continue
            for node, update in chunk.items():
                if isinstance(update, dict):
                    for step in update.get("steps", []):
                        yield {"event": "step", "node": node, "step": dict(step)}
        result = GenerationResult.from_state(final, thread_id=tid)
        yield {"event": "result", "result": result.model_dump(mode="json")}

    async def resume(
        self, thread_id: str, *, executor: Executor | None = None, catalog: Catalog | None = None
    ) -> GenerationResult:
        """Continue an interrupted run from its last checkpoint (needs a checkpointer)."""
        if not self._checkpointed:
            raise RuntimeError("resume needs a checkpointer")
        context = await self.context(executor=executor, catalog=catalog)
        state = await self.graph.ainvoke(None, self._config(thread_id), context=context)
        return GenerationResult.from_state(state, thread_id=thread_id)
