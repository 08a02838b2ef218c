"""The generation pipeline: plain language -> validated ComfyUI workflow, through four agents in LangGraph.

from pipeline import Generator, GenerationRequest
result = await Generator(Catalog.bundled()).generate(GenerationRequest(prompt="a cat surfing, 3 s, 720p"))
"""

from agents.execute import ClientExecutor, Executor
from agents.intent import Intent
from pipeline.builder import build_graph
from pipeline.context import CatalogSource, FixedCatalog, RunContext
from pipeline.errors import NoBackend, PipelineError
from pipeline.generator import Generator
from pipeline.state import GenerationRequest, GenerationResult, PipelineState
from pipeline.templates import TemplateLibrary

__all__ = [
    "CatalogSource",
    "ClientExecutor",
    "Executor",
    "FixedCatalog",
    "GenerationRequest",
    "GenerationResult",
    "Generator",
    "Intent",
    "NoBackend",
    "PipelineError",
    "PipelineState",
    "RunContext",
    "TemplateLibrary",
    "build_graph",
]
