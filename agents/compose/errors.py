"""Errors of the composer; each carries the error code the gateway answers with."""

from __future__ import annotations

from collections.abc import Sequence

from agents.errors import AgentError


class ComposeError(AgentError):
    """Base of the composer's errors."""

    code = "compose_error"


class PlanError(ComposeError):
    """A plan (from the planner or an LLM) is malformed: unknown operation, bad parameter, bad reference."""

    code = "bad_request"


class PortMismatch(ComposeError):
    """A step's input cannot take what it is given (e.g. a video where an image is needed)."""

    code = "port_mismatch"


class MissingCapability(ComposeError):
    """An operation needs node classes (a node pack) or model files the backend does not have.

    Never answered with a graph that does something else: the message names what is missing."""

    code = "missing_capability"

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        node_classes: Sequence[str] = (),
        packs: Sequence[str] = (),
        model_files: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.node_classes = list(node_classes)
        self.packs = list(packs)
        self.model_files = list(model_files)

    def detail(self) -> dict[str, object]:
        """The machine-readable part of the answer."""
        return {
            "error_code": self.code,
            "operation": self.operation,
            "node_classes": self.node_classes,
            "packs": self.packs,
            "model_files": self.model_files,
        }
