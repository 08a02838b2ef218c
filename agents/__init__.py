"""The four agents of the generation pipeline (ComfyGPT): Reformat, Flow, Refine, Execute.

Each has a deterministic, catalog-driven planner strategy (no network) and an LLM strategy that talks to any
OpenAI-compatible endpoint through `agents.llm`.
"""

from agents.errors import (
    AgentError,
    InputRequiredError,
    IntentError,
    LinkListError,
    LLMBadAnswer,
    LLMError,
    LLMUnavailable,
    NoTemplateError,
    RepairError,
)
from agents.intent import TASKS, Intent, Task
from agents.linklist import LinkList
from agents.llm import LLMConfig

__all__ = [
    "TASKS",
    "AgentError",
    "InputRequiredError",
    "Intent",
    "IntentError",
    "LLMBadAnswer",
    "LLMConfig",
    "LLMError",
    "LLMUnavailable",
    "LinkList",
    "LinkListError",
    "NoTemplateError",
    "RepairError",
    "Task",
]
