"""`Generator`: the friendly facade over the graph (generate, stream, resume)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.runnables import RunnableConfig

from agents.execute import Executor
from agents.llm import LLMConfig
from comfyui_client import ComfyClient
from node_catalog import Catalog
from pipeline.graph import PipelineNodes, compile_graph
from pipeline.state import GenerationRequest, GenerationResult, PipelineState
from pipeline.strategies import make_strategies
from pipeline.templates import TemplateLibrary

_RECURSION_LIMIT = 64  # 5 agents x (1 + max 10 repairs) fits


class Generator:
    """Plain-language request -> validated (and optionally submitted and repaired) ComfyUI workflow."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        llm: LLMConfig | None = None,
        executor: Executor | None = None,
        client: ComfyClient | None = None,
        checkpointer: Any = None,
        templates: TemplateLibrary | None = None,
    ) -> None:
        self.catalog = catalog
        self.templates = templates or TemplateLibrary.bundled()
        self._strategies = make_strategies(llm, catalog, self.templates)
        nodes = PipelineNodes(catalog, self._strategies, self.templates, client, executor)
        self.graph = compile_graph(nodes, checkpointer)
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
            request=request.model_dump(mode="json"),
            attempts=0,
            executions=0,
            status="running",
            error=None,
            bad_models=[],
        )

    async def generate(self, request: GenerationRequest, *, thread_id: str | None = None) -> GenerationResult:
        tid = thread_id or str(uuid.uuid4())
        state = await self.graph.ainvoke(self._initial(request), self._config(tid))
        return _result(state, tid)  # type: ignore[arg-type]

    async def stream(
        self, request: GenerationRequest, *, thread_id: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """One item per agent step (`{"event": "step", "node", "step"}`), then the `result` item."""
        tid = thread_id or str(uuid.uuid4())
        final: dict[str, Any] = dict(self._initial(request))
        async for mode, chunk in self.graph.astream(
            self._initial(request), self._config(tid), stream_mode=["updates", "values"]
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
        yield {"event": "result", "result": _result(final, tid).model_dump(mode="json")}  # type: ignore[arg-type]

    async def resume(self, thread_id: str) -> GenerationResult:
        """Continue an interrupted run from its last checkpoint (needs a checkpointer)."""
        if not self._checkpointed:
            raise RuntimeError("resume needs a checkpointer")
        state = await self.graph.ainvoke(None, self._config(thread_id))
        return _result(state, thread_id)  # type: ignore[arg-type]


def _result(state: PipelineState, thread_id: str) -> GenerationResult:
    result = GenerationResult.from_state(state, thread_id=thread_id)
    if result.error is None and result.status == "failed" and result.errors:
        result.error = result.errors[-1]
        result.error_code = "execution_failed"
    if result.error is None and result.validation is not None and not result.validation.get("ok"):
        result.status = "invalid"
        result.error = "the workflow is still invalid after the allowed repairs"
        result.error_code = "invalid_workflow"
    return result
