"""What a ComfyUI graph may be: the node catalog, workflow formats, graphs and validation.

Public surface (see docs/architecture.md): Catalog, NodeSpec, InputSpec, OutputSpec, SearchHit, plus
`node_catalog.workflow`, `.topology`, `.ui_export`, `.linklist` and `.validation`.
"""

from node_catalog.catalog import Catalog
from node_catalog.errors import CatalogError, ConversionError, NodeCatalogError, WorkflowFormatError
from node_catalog.provider import CatalogProvider
from node_catalog.search import SearchHit
from node_catalog.specs import InputSpec, NodeSpec, OutputSpec
from node_catalog.validation import ValidationReport, validate
from node_catalog.workflow import normalize_workflow

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogProvider",
    "ConversionError",
    "InputSpec",
    "NodeCatalogError",
    "NodeSpec",
    "OutputSpec",
    "SearchHit",
    "ValidationReport",
    "WorkflowFormatError",
    "normalize_workflow",
    "validate",
]
