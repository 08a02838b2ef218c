"""The generation pipeline: plain language -> validated ComfyUI workflow, through four agents in LangGraph.

from pipeline import Generator, GenerationRequest
result = await Generator(Catalog.bundled()).generate(GenerationRequest(prompt="a cat surfing, 3 s, 720p"))
"""

from agents.execute import ClientExecutor, Executor
from agents.intent import Intent
from pipeline.errors import NoBackend, PipelineError
from pipeline.generator import Generator
from pipeline.graph import build_graph
from pipeline.state import GenerationRequest, GenerationResult, PipelineState
from pipeline.templates import TemplateLibrary

__all__ = [
    "ClientExecutor",
    "Executor",
    "GenerationRequest",
    "GenerationResult",
    "Generator",
    "Intent",
    "NoBackend",
    "PipelineError",
    "PipelineState",
    "TemplateLibrary",
    "build_graph",
]
