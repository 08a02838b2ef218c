"""The agents' exception tree. Foreign errors (openai, jsonschema) are translated in `agents.llm`."""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error an agent raises; `message` is meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IntentError(AgentError):
    """The request cannot be understood (empty, contradictory, or values out of range)."""


class InputRequiredError(IntentError):
    """The task works on an input file (image or video) that the request did not provide; the gateway never
    invents one (a template's example file is not the user's)."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class NoTemplateError(AgentError):
    """No template fits the task (or a named template does not exist)."""


class LinkListError(AgentError):
    """A link list is malformed: wrong shape, or a link names a node or output that does not exist."""


class RepairError(AgentError):
    """Refine could not make the workflow valid."""


class LLMError(AgentError):
    """The LLM endpoint failed: unreachable, refused, timed out, or never gave a valid answer."""


class LLMUnavailable(LLMError):
    """The endpoint could not be reached or answered with a server error."""


class LLMBadAnswer(LLMError):
    """Every retry produced an answer that does not match the expected JSON Schema."""
