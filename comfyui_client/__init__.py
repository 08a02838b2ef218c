"""comfyui_client: the one async client for ComfyUI, shared by the REST API, the pipeline and the evals.

Quick use::

    from comfyui_client import ComfyClient, PromptRejected, ExecutionFailed

    async with ComfyClient("http://127.0.0.1:8188", timeout=10) as comfy:
        try:
            job = await comfy.submit(graph)                    # Submitted(prompt_id, number, node_errors)
        except PromptRejected as exc:
            return 400, exc.body                               # ComfyUI's {"error", "node_errors"} as sent
        entry = await comfy.wait_for(job.prompt_id, timeout=600)   # HistoryEntry, or ExecutionFailed ...
        for f in entry.files:                                  # OutputFile(kind="video", filename, ...)
            async with comfy.view(f.filename, subfolder=f.subfolder, type=f.type) as resp:
                ...

Modules: `client` (ComfyClient: every HTTP route and `wait_for`), `stream` (the reconnecting WebSocket:
EventStream), `events` (one pydantic model per event type, `parse_event`), `models` (Submitted, QueueSnapshot,
HistoryEntry, UploadedFile), `outputs` (OutputFile, `collect_outputs`), `errors` (the exception tree),
`local` (install and run a local CPU ComfyUI; imported lazily, never needed by the client).
"""

from comfyui_client.client import ComfyClient
from comfyui_client.errors import (
    BadRequest,
    BadResponse,
    ComfyError,
    ComfyTimeout,
    ComfyUnavailable,
    ExecutionFailed,
    ExecutionInterrupted,
    JobLost,
    NotFound,
    PromptRejected,
)
from comfyui_client.events import (
    BinaryEvent,
    DisconnectedEvent,
    Event,
    ExecutedEvent,
    ExecutingEvent,
    ExecutionCachedEvent,
    ExecutionErrorEvent,
    ExecutionInterruptedEvent,
    ExecutionStartEvent,
    ExecutionSuccessEvent,
    JobLostEvent,
    NodeProgress,
    PreviewEvent,
    ProgressEvent,
    ProgressStateEvent,
    ProgressTextEvent,
    ReconnectedEvent,
    StatusEvent,
    UnknownEvent,
    parse_event,
)
from comfyui_client.models import HistoryEntry, Outcome, QueueItem, QueueSnapshot, Submitted, UploadedFile
from comfyui_client.outputs import OutputFile, OutputKind, classify, collect_outputs
from comfyui_client.stream import EventStream, WsConnect, WsConnection

__all__ = [
    "BadRequest",
    "BadResponse",
    "BinaryEvent",
    "ComfyClient",
    "ComfyError",
    "ComfyTimeout",
    "ComfyUnavailable",
    "DisconnectedEvent",
    "Event",
    "EventStream",
    "ExecutedEvent",
    "ExecutingEvent",
    "ExecutionCachedEvent",
    "ExecutionErrorEvent",
    "ExecutionFailed",
    "ExecutionInterrupted",
    "ExecutionInterruptedEvent",
    "ExecutionStartEvent",
    "ExecutionSuccessEvent",
    "HistoryEntry",
    "JobLost",
    "JobLostEvent",
    "NodeProgress",
    "NotFound",
    "Outcome",
    "OutputFile",
    "OutputKind",
    "PreviewEvent",
    "ProgressEvent",
    "ProgressStateEvent",
    "ProgressTextEvent",
    "PromptRejected",
    "QueueItem",
    "QueueSnapshot",
    "ReconnectedEvent",
    "StatusEvent",
    "Submitted",
    "UnknownEvent",
    "UploadedFile",
    "WsConnect",
    "WsConnection",
    "classify",
    "collect_outputs",
    "parse_event",
]
