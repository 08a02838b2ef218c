"""Pipeline errors. Agent errors (`agents.errors`) and template errors pass through unchanged."""

from __future__ import annotations


class PipelineError(Exception):
    """Base of errors the pipeline raises itself; `message` is meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoBackend(PipelineError):
    """`submit` was asked for but the pipeline has neither an executor nor a ComfyUI client."""
