"""Typed ComfyUI WebSocket events, and the parser that turns a raw frame into one.

Text frames are `{"type": ..., "data": {...}}`; each known type becomes its own pydantic model (fields from
the `data` dict, unknown extra fields kept). Binary frames start with a 4-byte big-endian event type: previews
(1: 4-byte image type + JPEG/PNG bytes; 4: 4-byte metadata length + JSON metadata + image bytes) become
`PreviewEvent`, progress text (3: 4-byte node-id length + node id + UTF-8 text) becomes `ProgressTextEvent`,
anything else `BinaryEvent`. A type the client does not know, or a known type whose data does not fit, becomes
`UnknownEvent` with the raw data: `parse_event` never raises.

Events from a run, in order (see comfyui-api.md): StatusEvent, ExecutionStartEvent, ExecutionCachedEvent,
then per
node ProgressStateEvent / ExecutingEvent / ProgressEvent... / ExecutedEvent (output nodes), then
ExecutionSuccessEvent | ExecutionErrorEvent | ExecutionInterruptedEvent, StatusEvent, and
`ExecutingEvent(node=None)`: the "finished" signal, sent after /history is written (`event.is_finished`).

The stream adds its own: `ReconnectedEvent` (after a lost connection is back), `DisconnectedEvent` (when it is
lost) and `JobLostEvent` (a tracked job ComfyUI no longer knows). Events it synthesises from /history after a
reconnect carry `synthetic=True`.
"""

from __future__ import annotations

import json
import logging
import struct
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from comfyui_client.outputs import OutputFile, collect_outputs

log = logging.getLogger(__name__)


class Event(BaseModel):
    """Base of every event. `prompt_id` is set where ComfyUI sends one; `synthetic` marks events the stream
    rebuilt from /history after a reconnect instead of receiving them."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str
    prompt_id: str | None = None
    synthetic: bool = False

    #: Types after which ComfyUI sends no more events for the job except `status` and `executing(None)`.
    TERMINAL: ClassVar[frozenset[str]] = frozenset(
        {"execution_success", "execution_error", "execution_interrupted"}
    )

    @property
    def is_terminal(self) -> bool:
        """True for execution_success / execution_error / execution_interrupted."""
        return self.type in self.TERMINAL


class StatusEvent(Event):
    """Queue size changed; the first one after connecting carries `sid` (our client id)."""

    type: Literal["status"] = "status"
    status: dict[str, Any] = Field(default_factory=dict)
    sid: str | None = None

    @property
    def queue_remaining(self) -> int | None:
        info = self.status.get("exec_info")
        value = info.get("queue_remaining") if isinstance(info, dict) else None
        return value if isinstance(value, int) else None


class ExecutionStartEvent(Event):
    type: Literal["execution_start"] = "execution_start"
    timestamp: int | None = None


class ExecutionCachedEvent(Event):
    """Nodes whose cached results are reused: they will not run (nor send `executing`)."""

    type: Literal["execution_cached"] = "execution_cached"
    nodes: list[str] = Field(default_factory=list)
    timestamp: int | None = None


class ExecutingEvent(Event):
    """A node starts running; `node=None` means the job is finished and its history is written."""

    type: Literal["executing"] = "executing"
    node: str | None = None
    display_node: str | None = None

    @property
    def is_finished(self) -> bool:
        return self.node is None


class ProgressEvent(Event):
    """Step `value` of `max` inside `node` (samplers, tiled VAE ...)."""

    type: Literal["progress"] = "progress"
    value: float = 0
    max: float = 0
    node: str | None = None

    @property
    def fraction(self) -> float:
        return float(self.value) / float(self.max) if self.max else 0.0


class NodeProgress(BaseModel):
    """One node's entry in `progress_state`: `state` is "pending", "running", "finished" or "error"."""

    model_config = ConfigDict(extra="allow", frozen=True)

    value: float = 0
    max: float = 1
    state: str = ""
    node_id: str | None = None
    display_node_id: str | None = None
    parent_node_id: str | None = None
    real_node_id: str | None = None


class ProgressStateEvent(Event):
    """The progress of every node started so far in the job."""

    type: Literal["progress_state"] = "progress_state"
    nodes: dict[str, NodeProgress] = Field(default_factory=dict)


class ExecutedEvent(Event):
    """An output node finished; `output` is its ui dict (`files` classifies it)."""

    type: Literal["executed"] = "executed"
    node: str = ""
    display_node: str | None = None
    output: dict[str, Any] = Field(default_factory=dict)

    @property
    def files(self) -> list[OutputFile]:
        return collect_outputs({self.node: self.output})


class ExecutionSuccessEvent(Event):
    type: Literal["execution_success"] = "execution_success"
    timestamp: int | None = None


class ExecutionErrorEvent(Event):
    """A node raised: the job is over (status "error")."""

    type: Literal["execution_error"] = "execution_error"
    node_id: str | None = None
    node_type: str | None = None
    executed: list[str] = Field(default_factory=list)
    exception_message: str = ""
    exception_type: str = ""
    traceback: list[str] = Field(default_factory=list)
    current_inputs: Any = None
    current_outputs: Any = None
    timestamp: int | None = None


class ExecutionInterruptedEvent(Event):
    """The job was interrupted (POST /interrupt): it is over."""

    type: Literal["execution_interrupted"] = "execution_interrupted"
    node_id: str | None = None
    node_type: str | None = None
    executed: list[str] = Field(default_factory=list)
    timestamp: int | None = None


class PreviewEvent(Event):
    """A binary preview image (types 1 and 4). `image` holds the encoded bytes, `mime` their type; `metadata`
    (type 4 only) carries `node_id`, `prompt_id`, ..."""

    type: Literal["preview"] = "preview"
    event_type: int
    mime: str
    image: bytes = Field(repr=False)
    metadata: dict[str, Any] = Field(default_factory=dict)
    node: str | None = None


class ProgressTextEvent(Event):
    """Binary type 3: a node's progress text."""

    type: Literal["progress_text"] = "progress_text"
    node: str
    text: str


class BinaryEvent(Event):
    """A binary frame of a type the client does not parse (kept, never fatal)."""

    type: Literal["binary"] = "binary"
    event_type: int | None = None
    payload: bytes = Field(repr=False, default=b"")


class UnknownEvent(Event):
    """A text frame of an unknown type, or whose data does not fit its model; the raw `data` is kept."""

    data: Any = None


class ReconnectedEvent(Event):
    """The stream lost its connection and is connected again (`attempts` tries, `downtime` seconds).

    Tracked jobs that ended meanwhile follow as synthesised events (or `JobLostEvent`)."""

    type: Literal["reconnected"] = "reconnected"
    attempts: int = 1
    downtime: float = 0.0


class DisconnectedEvent(Event):
    """The stream lost its connection (`error` says why); it reconnects on its own with backoff."""

    type: Literal["disconnected"] = "disconnected"
    error: str = ""


class JobLostEvent(Event):
    """A tracked job ComfyUI no longer knows: not queued, not running, not in history (it restarted)."""

    type: Literal["job_lost"] = "job_lost"
    prompt_id: str
    reason: str


_BY_TYPE: dict[str, type[Event]] = {
    "status": StatusEvent,
    "execution_start": ExecutionStartEvent,
    "execution_cached": ExecutionCachedEvent,
    "executing": ExecutingEvent,
    "progress": ProgressEvent,
    "progress_state": ProgressStateEvent,
    "executed": ExecutedEvent,
    "execution_success": ExecutionSuccessEvent,
    "execution_error": ExecutionErrorEvent,
    "execution_interrupted": ExecutionInterruptedEvent,
}

# Binary frame types (ComfyUI's protocol.BinaryEventTypes).
PREVIEW_IMAGE = 1
UNENCODED_PREVIEW_IMAGE = 2
TEXT = 3
PREVIEW_IMAGE_WITH_METADATA = 4
_IMAGE_TYPES = {1: "image/jpeg", 2: "image/png"}


def event_from_data(type_: str, data: Any, *, synthetic: bool = False) -> Event:
    """The typed event for a `type` and its `data` dict (as in a frame or a history message)."""
    model = _BY_TYPE.get(type_)
    if model is not None and isinstance(data, dict):
        try:
            return model.model_validate({**data, "type": type_, "synthetic": synthetic})
        except ValidationError as exc:
            log.debug("event %s does not fit its model (%s); kept as UnknownEvent", type_, exc)
    prompt_id = data.get("prompt_id") if isinstance(data, dict) else None
    return UnknownEvent(
        type=type_,
        data=data,
        prompt_id=prompt_id if isinstance(prompt_id, str) else None,
        synthetic=synthetic,
    )


def parse_event(frame: str | bytes) -> Event:
    """Parse one WebSocket frame; never raises (malformed frames become `UnknownEvent` / `BinaryEvent`)."""
    if isinstance(frame, bytes | bytearray | memoryview):
        return parse_binary(bytes(frame))
    try:
        message = json.loads(frame)
    except ValueError:
        return UnknownEvent(type="invalid", data=frame)
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return UnknownEvent(type="invalid", data=message)
    return event_from_data(message["type"], message.get("data"))


def parse_binary(frame: bytes) -> Event:
    """Parse a binary frame (previews, progress text); unknown or truncated frames become `BinaryEvent`."""
    if len(frame) < 4:
        return BinaryEvent(payload=frame)
    (event_type,) = struct.unpack(">I", frame[:4])
    body = frame[4:]
    try:
        if event_type == PREVIEW_IMAGE and len(body) >= 4:
            (image_type,) = struct.unpack(">I", body[:4])
            return PreviewEvent(
                event_type=event_type,
                mime=_IMAGE_TYPES.get(image_type, "application/octet-stream"),
                image=body[4:],
            )
        if event_type == PREVIEW_IMAGE_WITH_METADATA and len(body) >= 4:
            (length,) = struct.unpack(">I", body[:4])
            if len(body) >= 4 + length:
                metadata = json.loads(body[4 : 4 + length])
                if isinstance(metadata, dict):
                    prompt_id = metadata.get("prompt_id")
                    node = metadata.get("node_id")
                    return PreviewEvent(
                        event_type=event_type,
                        mime=str(metadata.get("image_type") or "application/octet-stream"),
                        image=body[4 + length :],
                        metadata=metadata,
                        prompt_id=prompt_id if isinstance(prompt_id, str) else None,
                        node=node if isinstance(node, str) else None,
                    )
        if event_type == TEXT and len(body) >= 4:
            (length,) = struct.unpack(">I", body[:4])
            if len(body) >= 4 + length:
                node = body[4 : 4 + length].decode("utf-8", errors="replace")
                text = body[4 + length :].decode("utf-8", errors="replace")
                return ProgressTextEvent(node=node, text=text)
    except (ValueError, ValidationError) as exc:
        log.debug("binary frame type %s not parsed: %s", event_type, exc)
    return BinaryEvent(event_type=event_type, payload=body)
