"""Typed views of ComfyUI's HTTP answers: submit result, queue, history entries, uploads.

All models are pydantic, immutable, built from ComfyUI's raw JSON by a `from_comfy` classmethod that tolerates
missing or extra fields (custom builds and newer versions add keys).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from comfyui_client.errors import ExecutionFailed, ExecutionInterrupted
from comfyui_client.outputs import OutputFile, collect_outputs

Outcome = Literal["success", "error", "interrupted"]


class Submitted(BaseModel):
    """A queued job: our `prompt_id`, ComfyUI's queue `number` (negative with `front=True`), the `client_id`
    whose WebSocket gets its events, and `node_errors` (a 200 may carry some: only the valid outputs run)."""

    model_config = ConfigDict(frozen=True)

    prompt_id: str
    number: int
    node_errors: dict[str, Any] = Field(default_factory=dict)
    client_id: str


class QueueItem(BaseModel):
    """One running or pending job, from ComfyUI's `[number, prompt_id, prompt, extra_data,
    outputs_to_execute]`."""

    model_config = ConfigDict(frozen=True)

    number: int
    prompt_id: str
    prompt: dict[str, Any] = Field(default_factory=dict)
    extra_data: dict[str, Any] = Field(default_factory=dict)
    outputs_to_execute: list[str] = Field(default_factory=list)

    @property
    def client_id(self) -> str | None:
        value = self.extra_data.get("client_id")
        return value if isinstance(value, str) else None

    @classmethod
    def from_comfy(cls, raw: Sequence[Any]) -> QueueItem:
        number = raw[0] if len(raw) > 0 else 0
        prompt = raw[2] if len(raw) > 2 and isinstance(raw[2], dict) else {}
        extra = raw[3] if len(raw) > 3 and isinstance(raw[3], dict) else {}
        outputs = raw[4] if len(raw) > 4 and isinstance(raw[4], list) else []
        return cls(
            number=int(number) if isinstance(number, int | float) else 0,
            prompt_id=str(raw[1]) if len(raw) > 1 else "",
            prompt=prompt,
            extra_data=extra,
            outputs_to_execute=[str(o) for o in outputs],
        )


class QueueSnapshot(BaseModel):
    """GET /queue: `running` jobs, and `pending` jobs in the order they will run (sorted by number:
    ComfyUI sends them in heap order)."""

    model_config = ConfigDict(frozen=True)

    running: list[QueueItem] = Field(default_factory=list)
    pending: list[QueueItem] = Field(default_factory=list)

    def __contains__(self, prompt_id: object) -> bool:
        return any(item.prompt_id == prompt_id for item in (*self.running, *self.pending))

    def is_running(self, prompt_id: str) -> bool:
        return any(item.prompt_id == prompt_id for item in self.running)

    def position(self, prompt_id: str) -> int | None:
        """0 while running, 1.. for the n-th pending job, None when not queued."""
        if self.is_running(prompt_id):
            return 0
        for index, item in enumerate(self.pending, start=1):
            if item.prompt_id == prompt_id:
                return index
        return None

    @classmethod
    def from_comfy(cls, raw: Mapping[str, Any]) -> QueueSnapshot:
        def items(key: str) -> list[QueueItem]:
            value = raw.get(key)
            if not isinstance(value, list):
                return []
            return [QueueItem.from_comfy(v) for v in value if isinstance(v, list | tuple) and len(v) >= 2]

        return cls(
            running=items("queue_running"), pending=sorted(items("queue_pending"), key=lambda i: i.number)
        )


class HistoryEntry(BaseModel):
    """A finished job from GET /history.

    `outcome` tells success, error and interrupted apart (ComfyUI's `status_str` is "error" for both of the
    last two; the last status message decides). `error` is the `execution_error` data of a failed job,
    `interruption` the `execution_interrupted` data of an interrupted one. `files` are the classified outputs,
    `outputs` the raw per-node ui dicts. `messages` are ComfyUI's `[event, data]` pairs; `started_at` /
    `finished_at` are the millisecond timestamps found in them.
    """

    model_config = ConfigDict(frozen=True)

    prompt_id: str
    status_str: str
    completed: bool
    outcome: Outcome
    outputs: dict[str, Any] = Field(default_factory=dict)
    files: list[OutputFile] = Field(default_factory=list)
    messages: list[tuple[str, dict[str, Any]]] = Field(default_factory=list)
    error: dict[str, Any] | None = None
    interruption: dict[str, Any] | None = None
    started_at: int | None = None
    finished_at: int | None = None
    number: int | None = None
    prompt: dict[str, Any] = Field(default_factory=dict)
    extra_data: dict[str, Any] = Field(default_factory=dict)

    @property
    def duration_ms(self) -> int | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def raise_for_outcome(self, *, url: str | None = None) -> HistoryEntry:
        """Return self for a success; raise `ExecutionFailed` / `ExecutionInterrupted` otherwise."""
        if self.outcome == "error":
            raise ExecutionFailed.from_error_data(self.prompt_id, self.error or {}, entry=self, url=url)
        if self.outcome == "interrupted":
            raise ExecutionInterrupted.from_interruption_data(
                self.prompt_id, self.interruption or {}, entry=self, url=url
            )
        return self

    @classmethod
    def from_comfy(cls, prompt_id: str, raw: Mapping[str, Any]) -> HistoryEntry:
        status = _dict(raw.get("status"))
        messages = _messages(status.get("messages"))
        status_str = str(status.get("status_str") or "")
        completed = bool(status.get("completed", False))
        outputs = _dict(raw.get("outputs"))
        error = _last(messages, "execution_error")
        interruption = _last(messages, "execution_interrupted")
        outcome = _outcome(status_str, completed, messages)
        prompt_tuple = raw.get("prompt")
        number: int | None = None
        prompt: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        if isinstance(prompt_tuple, list | tuple):
            if prompt_tuple and isinstance(prompt_tuple[0], int):
                number = prompt_tuple[0]
            if len(prompt_tuple) > 2 and isinstance(prompt_tuple[2], dict):
                prompt = prompt_tuple[2]
            if len(prompt_tuple) > 3 and isinstance(prompt_tuple[3], dict):
                extra = prompt_tuple[3]
        stamps = [d["timestamp"] for _, d in messages if isinstance(d.get("timestamp"), int)]
        return cls(
            prompt_id=prompt_id,
            status_str=status_str,
            completed=completed,
            outcome=outcome,
            outputs=outputs,
            files=collect_outputs(outputs),
            messages=messages,
            error=error if outcome == "error" else None,
            interruption=interruption if outcome == "interrupted" else None,
            started_at=min(stamps) if stamps else None,
            finished_at=max(stamps) if stamps else None,
            number=number,
            prompt=prompt,
            extra_data=extra,
        )


class UploadedFile(BaseModel):
    """Where POST /upload/image stored a file (ComfyUI may rename it when `overwrite=False`).

    `ref` is the value a loader node (LoadImage, LoadVideo, LoadAudio) takes: `subfolder/name`.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    subfolder: str = ""
    type: str = "input"

    @property
    def ref(self) -> str:
        return f"{self.subfolder}/{self.name}" if self.subfolder else self.name


def _messages(raw: Any) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(raw, list):
        return out
    for item in raw:
        if isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str):
            out.append((item[0], item[1] if isinstance(item[1], dict) else {}))
    return out


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _last(messages: list[tuple[str, dict[str, Any]]], event: str) -> dict[str, Any] | None:
    for name, data in reversed(messages):
        if name == event:
            return dict(data)
    return None


def _outcome(status_str: str, completed: bool, messages: list[tuple[str, dict[str, Any]]]) -> Outcome:
    terminal = [name for name, _ in messages if name in _TERMINAL]
    if terminal:
        return _TERMINAL[terminal[-1]]
    if status_str == "success" or (not status_str and completed):
        return "success"
    return "error"


_TERMINAL: dict[str, Outcome] = {
    "execution_success": "success",
    "execution_error": "error",
    "execution_interrupted": "interrupted",
}
