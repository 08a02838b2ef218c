"""The generation pipeline: plain language -> validated ComfyUI workflow, through four agents in LangGraph.

from pipeline import Generator, GenerationRequest
result = await Generator(Catalog.bundled()).generate(GenerationRequest(prompt="a cat surfing, 3 s, 720p"))

`Generator` and `build_graph` (LangGraph and langchain_core, ~75 MB resident) load on first access, so a
gateway that only runs workflows never imports them (issue 13); the plain models load at once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agents.execute import ClientExecutor, Executor
from agents.intent import Intent
from pipeline.context import CatalogSource, FixedCatalog, ModelSource, RunContext
from pipeline.errors import NoBackend, PipelineError
from pipeline.state import GenerationRequest, GenerationResult, PipelineState
from pipeline.templates import TemplateLibrary

if TYPE_CHECKING:
    from pipeline.builder import build_graph
    from pipeline.generator import Generator

_LAZY = {"Generator": "pipeline.generator", "build_graph": "pipeline.builder"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


__all__ = [
    "CatalogSource",
    "ClientExecutor",
    "Executor",
    "FixedCatalog",
    "GenerationRequest",
    "GenerationResult",
    "Generator",
    "Intent",
    "ModelSource",
    "NoBackend",
    "PipelineError",
    "PipelineState",
    "RunContext",
    "TemplateLibrary",
    "build_graph",
]
