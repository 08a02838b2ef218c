"""The LangGraph pipeline, compiled once: reformat -> flow -> refine -> validate -> (refine | execute |
finish) ... bounded; every path ends in `finish`, which records `error` / `error_code` in the state.

A checkpointer (e.g. langgraph-checkpoint-sqlite's AsyncSqliteSaver) makes a run resumable by thread id; the
run's catalog and executor come with each run as `RunContext` (`graph.ainvoke(state, config, context=...)`).
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.execute import Executor
from agents.llm import LLMConfig
from comfyui_client import ComfyClient
from node_catalog import Catalog
from pipeline.context import FixedCatalog, RunContext
from pipeline.nodes import FINISH, PipelineNodes
from pipeline.state import PipelineState
from pipeline.strategies import make_strategies
from pipeline.templates import TemplateLibrary

CompiledPipeline = CompiledStateGraph[PipelineState, RunContext, Any, Any]


def build_graph(
    *,
    llm: LLMConfig | None,
    catalog: Catalog,
    client: ComfyClient | None,
    checkpointer: Any = None,
    executor: Executor | None = None,
    templates: TemplateLibrary | None = None,
) -> CompiledPipeline:
    """The compiled pipeline graph; runs without a context use `catalog` and `executor`."""
    library = templates or TemplateLibrary.bundled()
    nodes = PipelineNodes(FixedCatalog(catalog), make_strategies(llm, library), library, client, executor)
    return compile_graph(nodes, checkpointer)


def compile_graph(nodes: PipelineNodes, checkpointer: Any) -> CompiledPipeline:
    graph: StateGraph[PipelineState, RunContext, Any, Any] = StateGraph(
        PipelineState, context_schema=RunContext
    )
    graph.add_node("reformat", nodes.reformat)
    graph.add_node("flow", nodes.flow)
    graph.add_node("refine", nodes.refine)
    graph.add_node("validate", nodes.validate)
    graph.add_node("execute", nodes.execute)
    graph.add_node(FINISH, nodes.finish)
    graph.add_edge(START, "reformat")
    graph.add_conditional_edges("reformat", lambda s: nodes.after(s, "flow"), ["flow", FINISH])
    graph.add_conditional_edges("flow", lambda s: nodes.after(s, "refine"), ["refine", FINISH])
    graph.add_conditional_edges("refine", lambda s: nodes.after(s, "validate"), ["validate", FINISH])
    graph.add_conditional_edges("validate", nodes.after_validate, ["refine", "execute", FINISH])
    graph.add_conditional_edges("execute", nodes.after_execute, ["refine", FINISH])
    graph.add_edge(FINISH, END)
    return graph.compile(checkpointer=checkpointer)
