"""The one exception tree of the ComfyUI client.

Every failure the client reports is a `ComfyError`; httpx and websockets errors never escape (they are chained
as `__cause__`). The tree, and what a REST layer would usually answer for each:

    ComfyError                 anything that went wrong talking to ComfyUI
    ├── ComfyUnavailable       cannot connect / connection dropped (503)
    ├── ComfyTimeout           ComfyUI (or a job) did not answer in time (504)
    ├── PromptRejected         POST /prompt answered 400: `error` + `node_errors` as ComfyUI sent them (400)
    ├── ExecutionFailed        a queued job raised in a node at run time (job status "error")
    ├── ExecutionInterrupted   a job was interrupted (job status "interrupted")
    ├── JobLost                ComfyUI no longer knows a job (restarted while it was queued or running)
    ├── NotFound               404: unknown file, model folder, node class ... (404)
    ├── BadRequest             any other 4xx ComfyUI sent (path traversal in /view, body too large ...) (400)
    └── BadResponse            ComfyUI's HTTP 500 text/plain answers, non-JSON where JSON was expected (502)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from comfyui_client.models import HistoryEntry


class ComfyError(Exception):
    """Base of every error raised by `comfyui_client`; `url` is the ComfyUI URL involved, if any."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url


class ComfyUnavailable(ComfyError):
    """ComfyUI cannot be reached: connection refused, DNS failure, connect timeout, connection dropped.

    The message names the URL that was tried.
    """


class ComfyTimeout(ComfyError):
    """ComfyUI accepted the connection but did not answer in time, or a job outlasted its `timeout`."""


class PromptRejected(ComfyError):
    """ComfyUI refused a graph at submit time (HTTP 400 from POST /prompt); nothing was queued.

    `error` is ComfyUI's top-level `{type, message, details, extra_info}`; `node_errors` maps node ids to
    `{errors: [...], dependent_outputs: [...], class_type}` exactly as ComfyUI sent them. `body` rebuilds
    ComfyUI's 400 answer so a REST layer can pass it through unchanged. The client also raises this itself
    (status_code 400) for a prompt ComfyUI would crash on (a list, a string, values that are not JSON).
    """

    def __init__(
        self,
        error: dict[str, Any],
        node_errors: dict[str, Any] | None = None,
        status_code: int = 400,
        *,
        url: str | None = None,
    ) -> None:
        self.error = error
        self.node_errors = node_errors or {}
        self.status_code = status_code
        message = str(error.get("message") or error.get("type") or "prompt rejected")
        details = error.get("details")
        if details:
            message = f"{message}: {details}"
        if self.node_errors:
            message = (
                f"{message} ({len(self.node_errors)} node(s) with errors: {', '.join(self.node_errors)})"
            )
        super().__init__(message, url=url)

    @property
    def error_type(self) -> str:
        """ComfyUI's error type, e.g. `prompt_outputs_failed_validation`, `invalid_prompt`,
        `prompt_no_outputs`."""
        return str(self.error.get("type", ""))

    @property
    def body(self) -> dict[str, Any]:
        """ComfyUI's 400 body: `{"error": ..., "node_errors": ...}`."""
        return {"error": self.error, "node_errors": self.node_errors}


class ExecutionFailed(ComfyError):
    """A job ran and a node raised (ComfyUI's `execution_error`; history `status_str` "error").

    `entry` is the job's history entry when it was read (outputs of nodes that ran before the failure).
    """

    def __init__(
        self,
        prompt_id: str,
        *,
        node_id: str | None = None,
        node_type: str | None = None,
        exception_type: str | None = None,
        exception_message: str | None = None,
        traceback: list[str] | None = None,
        entry: HistoryEntry | None = None,
        url: str | None = None,
    ) -> None:
        self.prompt_id = prompt_id
        self.node_id = node_id
        self.node_type = node_type
        self.exception_type = exception_type
        self.exception_message = exception_message
        self.traceback = traceback or []
        self.entry = entry
        where = f"node {node_id} ({node_type})" if node_id else "an unknown node"
        what = f"{exception_type}: {(exception_message or '').strip()}" if exception_type else "failed"
        super().__init__(f"job {prompt_id} failed in {where}: {what}", url=url)

    @classmethod
    def from_error_data(
        cls,
        prompt_id: str,
        data: dict[str, Any],
        *,
        entry: HistoryEntry | None = None,
        url: str | None = None,
    ) -> ExecutionFailed:
        """Build from the data of an `execution_error` event or history message."""
        tb = data.get("traceback")
        return cls(
            prompt_id,
            node_id=_opt_str(data.get("node_id")),
            node_type=_opt_str(data.get("node_type")),
            exception_type=_opt_str(data.get("exception_type")),
            exception_message=_opt_str(data.get("exception_message")),
            traceback=[str(line) for line in tb] if isinstance(tb, list) else None,
            entry=entry,
            url=url,
        )


class ExecutionInterrupted(ComfyError):
    """A job was interrupted (POST /interrupt); `node_id`/`node_type` say where it stopped."""

    def __init__(
        self,
        prompt_id: str,
        *,
        node_id: str | None = None,
        node_type: str | None = None,
        entry: HistoryEntry | None = None,
        url: str | None = None,
    ) -> None:
        self.prompt_id = prompt_id
        self.node_id = node_id
        self.node_type = node_type
        self.entry = entry
        where = f" in node {node_id} ({node_type})" if node_id else ""
        super().__init__(f"job {prompt_id} was interrupted{where}", url=url)

    @classmethod
    def from_interruption_data(
        cls,
        prompt_id: str,
        data: dict[str, Any],
        *,
        entry: HistoryEntry | None = None,
        url: str | None = None,
    ) -> ExecutionInterrupted:
        """Build from the data of an `execution_interrupted` event or history message."""
        return cls(
            prompt_id,
            node_id=_opt_str(data.get("node_id")),
            node_type=_opt_str(data.get("node_type")),
            entry=entry,
            url=url,
        )


#: The one verdict on a job ComfyUI forgot, shared by `JobLostEvent`, `JobLost` and every layer above.
LOST_REASON = (
    "ComfyUI no longer knows this job (not queued, not running, not in history); it was probably restarted "
    "or the job was removed from its queue"
)


class JobLost(ComfyError):
    """ComfyUI no longer knows a job: not queued, not running, not in history (usually it restarted)."""

    def __init__(self, prompt_id: str, reason: str = LOST_REASON, *, url: str | None = None) -> None:
        self.prompt_id = prompt_id
        self.reason = reason
        super().__init__(f"job {prompt_id} was lost: {reason}", url=url)


class NotFound(ComfyError):
    """ComfyUI answered 404: a file for /view, a model folder, a node class, a job that does not exist."""


class BadRequest(ComfyError):
    """ComfyUI answered a 4xx other than 404 and a prompt rejection (bad `type` or path traversal in /view,
    an upload without a file name, 413 for a body over --max-upload-size). `status_code`, `body` as sent.
    """

    def __init__(self, message: str, *, status_code: int, body: str = "", url: str | None = None) -> None:
        self.status_code = status_code
        self.body = body
        super().__init__(message, url=url)


class BadResponse(ComfyError):
    """ComfyUI answered something the client cannot use: its own HTTP 500 text/plain "Server got itself in
    trouble" (what it answers to malformed request bodies), any other 5xx, or non-JSON where JSON was due.
    """

    def __init__(self, message: str, *, status_code: int, body: str = "", url: str | None = None) -> None:
        self.status_code = status_code
        self.body = body
        super().__init__(message, url=url)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
