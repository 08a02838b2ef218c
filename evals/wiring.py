"""Wiring the project's real pieces into a run: the bundled node catalog and `pipeline.Generator`."""

from __future__ import annotations

from typing import Any

from evals.errors import BackendError, EvalError
from evals.system import GeneratorSystem


def load_catalog() -> Any:
    """The bundled node catalog snapshot (the offline reference for pass_rate)."""
    from node_catalog import Catalog

    return Catalog.bundled()


async def generator_system(
    strategy: str, *, catalog: Any, client: Any = None, llm: Any = None
) -> GeneratorSystem:
    """`pipeline.Generator` behind the `SystemUnderTest` protocol. With a live client the generator sees the
    backend's own catalog (so it can name model files the backend has); it never submits by itself."""
    from pipeline import Generator

    if strategy not in ("planner", "llm"):
        raise EvalError(f"unknown strategy {strategy!r}: use planner or llm")
    if strategy == "llm" and llm is None:
        raise EvalError(
            "strategy llm needs an LLM endpoint: set OPENAI_BASE_URL (and OPENAI_API_KEY, LLM_MODEL)"
        )
    if client is None:
        return GeneratorSystem(Generator(catalog, llm=llm if strategy == "llm" else None))
    from node_catalog import CatalogError, CatalogProvider

    catalogs = CatalogProvider(client)  # the gateway's provider: the backend's own catalog, kept fresh
    try:
        await catalogs.require_live()
    except CatalogError as exc:
        raise BackendError(f"cannot read the live node catalog: {exc}") from exc
    return GeneratorSystem(Generator(catalogs, llm=llm if strategy == "llm" else None, client=client))
