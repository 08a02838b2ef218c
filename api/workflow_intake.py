"""A request's workflow -> the API graph to validate, checked against the size limits first.

Parsing a UI export, walking the graph and validating it are CPU work proportional to what the caller sent:
they run in a worker thread (the event loop keeps serving every other request and job event) within
`settings.validation_budget` seconds, after `node_catalog.limits` has bounded the document. Whatever still
goes wrong with the input itself (a RecursionError, an OverflowError, a limit) is a 400 that says what.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from api.errors import InvalidWorkflow
from api.text_prompt import apply_text_prompt

T = TypeVar("T")


def format_error(type_: str, message: str) -> InvalidWorkflow:
    """The 400 for a workflow that cannot even be read: ComfyUI's top-level error shape, no node errors."""
    return InvalidWorkflow(
        f"unusable workflow: {message}",
        error={"type": type_, "message": message, "details": "", "extra_info": {}},
    )


async def off_loop(func: Callable[[], T], *, budget: float, what: str) -> T:
    """Run `func` in a worker thread within `budget` seconds; input-born crashes become 400s."""
    from node_catalog.errors import LimitExceeded, WorkflowFormatError

    try:
        return await asyncio.wait_for(asyncio.to_thread(func), timeout=budget)
    except TimeoutError:
        # The thread finishes on its own (the limits bound how long); the caller gets its answer now.
        raise format_error(
            "limit_exceeded", f"{what} took longer than {budget:g} s (VALIDATION_BUDGET)"
        ) from None
    except LimitExceeded as exc:
        raise format_error("limit_exceeded", exc.message) from exc
    except WorkflowFormatError as exc:
        raise format_error("invalid_workflow_format", exc.message) from exc
    except RecursionError as exc:
        raise format_error("limit_exceeded", f"{what}: the workflow is nested or chained too deep") from exc
    except OverflowError as exc:
        raise format_error("invalid_workflow_format", f"{what}: a number is too large ({exc})") from exc


async def api_graph(workflow: Any, prompt: str | None, catalog: Any, settings: Any) -> dict[str, Any]:
    """The API graph `workflow` stands for (any accepted form), with the text `prompt` applied."""
    from node_catalog.workflow import normalize_workflow

    limits = settings.graph_limits()

    def convert() -> dict[str, Any]:
        graph = normalize_workflow(workflow, catalog, limits=limits)
        return apply_text_prompt(graph, prompt) if prompt else graph

    return await off_loop(convert, budget=settings.validation_budget, what="reading the workflow")
