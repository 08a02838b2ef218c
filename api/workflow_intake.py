"""A request's workflow -> the API graph to validate, checked against the size limits first.

Parsing a UI export, walking the graph and validating it are CPU work proportional to what the caller sent:
for a large document they run in a worker thread (the event loop keeps serving every other request and job
event) within `settings.validation_budget` seconds, after `node_catalog.limits` has bounded the document. A
small one (`INLINE_BYTES`) is read and validated on the event loop: its work (0.1-0.5 ms) costs less than
the hop to a thread and back, which waits for the GIL (up to the 5 ms switch interval while the loop is
busy). Whatever still goes wrong with the input itself (a RecursionError, an OverflowError, a limit) is a
400 that says what. `Verdicts` remembers the graphs found valid, so a repeated graph is not validated again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from api.errors import InvalidWorkflow
from api.text_prompt import apply_text_prompt

T = TypeVar("T")

INLINE_BYTES = 16_384  # a workflow this small (its JSON) is read and validated on the event loop


def format_error(type_: str, message: str) -> InvalidWorkflow:
    """The 400 for a workflow that cannot even be read: ComfyUI's top-level error shape, no node errors."""
    return InvalidWorkflow(
        f"unusable workflow: {message}",
        error={"type": type_, "message": message, "details": "", "extra_info": {}},
    )


def small(size: int | str | None) -> bool:
    """Whether a document of `size` bytes (a Content-Length; None: unknown) is handled on the event loop."""
    try:
        return size is not None and 0 <= int(size) <= INLINE_BYTES
    except ValueError:
        return False


async def off_loop(func: Callable[[], T], *, budget: float, what: str, inline: bool = False) -> T:
    """Run `func` in a worker thread within `budget` seconds (`inline`: here, for small inputs); input-born
    crashes become 400s."""
    from node_catalog.errors import LimitExceeded, WorkflowFormatError

    try:
        if not inline:
            return await asyncio.wait_for(asyncio.to_thread(func), timeout=budget)
        started = time.perf_counter()
        result = func()
        if time.perf_counter() - started > budget:  # the same verdict as in a thread, only later
            raise TimeoutError
        return result
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


async def api_graph(
    workflow: Any, prompt: str | None, catalog: Any, settings: Any, *, size: int | str | None = None
) -> dict[str, Any]:
    """The API graph `workflow` stands for (any accepted form), with the text `prompt` applied. `size`: the
    request body's length, when known (a small one is read on the event loop)."""
    from node_catalog.workflow import normalize_workflow

    limits = settings.graph_limits()

    def convert() -> dict[str, Any]:
        graph = normalize_workflow(workflow, catalog, limits=limits)
        return apply_text_prompt(graph, prompt) if prompt else graph

    budget = settings.validation_budget
    return await off_loop(convert, budget=budget, what="reading the workflow", inline=small(size))


class Verdicts:
    """The graphs a catalog found valid, by content (a bounded LRU): a repeated graph skips validation.

    Validation is a pure function of the graph, the catalog and the limits (fixed per JobService): the key
    is the catalog object (a refresh makes a new one, so its verdicts start over) and the sha256 of the
    graph's canonical JSON. Only valid verdicts are kept (a rejected graph may pass once a file arrives).
    """

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        self._valid: OrderedDict[tuple[int, str], tuple[object, Any]] = OrderedDict()  # -> (catalog, report)

    @staticmethod
    def key(graph: Any) -> tuple[str, int] | None:
        """(digest, size in bytes) of the graph's canonical JSON; None when it has none (not JSON data, or
        nested too deep): then it is validated every time, off the event loop."""
        try:
            text = json.dumps(graph, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError, RecursionError):
            return None
        return hashlib.sha256(text).hexdigest(), len(text)

    def get(self, catalog: object, key: tuple[str, int]) -> Any | None:
        """The report of a graph this catalog found valid, or None."""
        entry = (id(catalog), key[0])
        found = self._valid.get(entry)
        if found is None or found[0] is not catalog:
            return None
        self._valid.move_to_end(entry)
        return found[1]

    def add(self, catalog: object, key: tuple[str, int], report: Any) -> None:
        self._valid[(id(catalog), key[0])] = (catalog, report)
        while len(self._valid) > self.limit:
            self._valid.popitem(last=False)
