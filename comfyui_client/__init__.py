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

Modules: `client` (ComfyClient: every HTTP route, `wait_for`, `history_after_finish`), `http` (the seam
translating httpx errors and HTTP statuses), `hub` (the one reconnecting WebSocket of a client), `stream`
(EventStream: a hub subscriber that follows tracked jobs to their end), `events` (one pydantic model per
event type, `parse_event`), `models` (Submitted, QueueSnapshot, HistoryEntry, UploadedFile), `outputs`
(OutputFile, OutputRef, `collect_outputs`), `errors` (the exception tree, `LOST_REASON`),
`local` (install and run a local CPU ComfyUI; imported lazily, never needed by the client).
"""

from comfyui_client.client import ComfyClient
from comfyui_client.errors import (
    LOST_REASON,
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
from comfyui_client.hub import WsConnect, WsConnection
from comfyui_client.models import HistoryEntry, Outcome, QueueItem, QueueSnapshot, Submitted, UploadedFile
from comfyui_client.outputs import OutputFile, OutputKind, OutputRef, classify, collect_outputs
from comfyui_client.stream import EventStream
from comfyui_client.transport import StreamTransport

__all__ = [
    "LOST_REASON",
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
    "OutputRef",
    "PreviewEvent",
    "ProgressEvent",
    "ProgressStateEvent",
    "ProgressTextEvent",
    "PromptRejected",
    "QueueItem",
    "QueueSnapshot",
    "ReconnectedEvent",
    "StatusEvent",
    "StreamTransport",
    "Submitted",
    "UnknownEvent",
    "UploadedFile",
    "WsConnect",
    "WsConnection",
    "classify",
    "collect_outputs",
    "parse_event",
]
