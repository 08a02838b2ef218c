"""The node_catalog exception tree: everything this package raises derives from NodeCatalogError."""

from __future__ import annotations


class NodeCatalogError(Exception):
    """Base of every error node_catalog raises; `message` is safe to show to an API user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CatalogError(NodeCatalogError):
    """An `/object_info` document not shaped as ComfyUI serves it, or a backend that failed to give one."""


class WorkflowFormatError(NodeCatalogError, ValueError):
    """Input that is not a workflow at all (a list, a string, an empty object, a node without class_type)."""


class ConversionError(WorkflowFormatError):
    """A UI-format workflow that cannot be turned into API format; `node_id` names the culprit when known."""

    def __init__(self, message: str, *, node_id: str | int | None = None) -> None:
        super().__init__(message if node_id is None else f"node {node_id}: {message}")
        self.node_id = node_id


class LimitExceeded(WorkflowFormatError):
    """A workflow over one of the gateway's size limits (nodes, nesting, string length, chain depth ...);
    raised before any expensive work, the message names the limit and where it was passed."""
