"""What one run of the compiled graph reads besides its state: LangGraph's runtime context.

The graph is compiled once per `Generator`; values that differ per run (the current node catalog, the executor
that records the run's jobs) travel here, never in the checkpointed state and never by recompiling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from agents.execute import Executor
from node_catalog import Catalog


class CatalogSource(Protocol):
    """Where a run gets its node catalog (`node_catalog.CatalogProvider` is one)."""

    async def get(self) -> Catalog: ...


class ModelSource(Protocol):
    """Where a run lists the model files it may plan with (`comfyui_client.ComfyClient` is one; a fleet of
    backends gives the union of theirs)."""

    async def model_folders(self) -> list[str]: ...

    async def models(self, folder: str) -> list[str]: ...


class FixedCatalog:
    """A `CatalogSource` that always serves the same catalog (a snapshot, or one the caller loaded)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def get(self) -> Catalog:
        return self.catalog


@dataclass(frozen=True)
class RunContext:
    """The per-run values every node reads through `runtime.context`."""

    catalog: Catalog
    executor: Executor | None = None
