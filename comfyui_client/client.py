"""`ComfyClient`: the async client for one ComfyUI backend (HTTP routes, event stream, waiting for jobs).

    async with ComfyClient("http://gpu-1:8188", timeout=10) as comfy:
        async with comfy.events() as stream:          # one WebSocket per client, shared by all streams
            await stream.wait_connected(5)            # optional: be live before submitting
            job = await comfy.submit(graph)           # our client_id + a UUID prompt_id
            stream.track(job.prompt_id)               # its end is never missed, even across reconnects
            async for ev in stream:
                if isinstance(ev, ExecutingEvent) and ev.is_finished and ev.prompt_id == job.prompt_id:
                    break
        entry = await comfy.history(job.prompt_id)    # HistoryEntry: outcome, files, error
        async with comfy.view(entry.files[0].filename, subfolder=..., range="bytes=0-99") as resp:
            async for chunk in resp.aiter_bytes(): ...

or simply `entry = await comfy.wait_for(job.prompt_id, timeout=600)` (raises ExecutionFailed,
ExecutionInterrupted, JobLost or ComfyTimeout).

Every request goes through `comfyui_client.http.ComfyHttp` (the one seam translating httpx errors and HTTP
statuses into the `comfyui_client.errors` tree); this module adds the routes' shapes (a 400 from POST /prompt
-> PromptRejected). `timeout` bounds every HTTP request, so an unreachable ComfyUI raises ComfyUnavailable
within it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from comfyui_client.errors import (
    BadRequest,
    BadResponse,
    ComfyError,
    ComfyTimeout,
    JobLost,
    NotFound,
    PromptRejected,
)
from comfyui_client.events import ExecutingEvent, JobLostEvent
from comfyui_client.http import ComfyHttp, excerpt, try_json
from comfyui_client.hub import EventHub, WsConnect, default_ws_connect
from comfyui_client.models import HistoryEntry, QueueSnapshot, Submitted, UploadedFile
from comfyui_client.stream import GRACE, EventStream

log = logging.getLogger(__name__)

#: Finished jobs' history entries kept after a read. An entry is final once ComfyUI wrote it, and a job's end
#: is asked about by several followers within moments (the event stream's check, the tracker's settle).
HISTORY_MEMORY = 256


class ComfyClient:
    """Async client for one ComfyUI at `base_url` (one httpx.AsyncClient, one WebSocket at most).

    `client_id` (a UUID chosen once per client unless given) is sent with every submit, so ComfyUI routes the
    jobs' events to this client's WebSocket. `transport` and `ws_connect` are injectable for tests
    (httpx.MockTransport, a fake connect). `reconnect_backoff` is (first delay, max delay) in seconds for the
    event stream's reconnects (doubling, with jitter).
    """

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        ws_connect: WsConnect | None = None,
        reconnect_backoff: tuple[float, float] = (0.25, 5.0),
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"ComfyUI URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id or str(uuid.uuid4())
        self.timeout = timeout
        self._http = ComfyHttp(self.base_url, timeout=timeout, transport=transport)
        ws_base = "ws" + self.base_url[len("http") :]
        self.ws_url = f"{ws_base}/ws?clientId={quote(self.client_id)}"
        self._hub = EventHub(
            self.client_id,
            self.ws_url,
            ws_connect or default_ws_connect(open_timeout=timeout),
            backoff=reconnect_backoff,
            ready_timeout=timeout,
        )
        self._entries: OrderedDict[str, HistoryEntry] = OrderedDict()  # HISTORY_MEMORY newest read
        self._history_reads: dict[str, asyncio.Future[HistoryEntry | None]] = {}  # one in flight per id

    async def __aenter__(self) -> ComfyClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the event stream (if open) and the HTTP connection pool."""
        await self._hub.shutdown()
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"ComfyClient({self.base_url!r}, client_id={self.client_id!r})"

    # -- jobs -------------------------------------------------------------------------------------------

    async def submit(
        self,
        prompt: Mapping[str, Any],
        *,
        prompt_id: str | None = None,
        extra_data: Mapping[str, Any] | None = None,
        front: bool = False,
    ) -> Submitted:
        """Queue an API-format graph; returns our UUID `prompt_id` and ComfyUI's queue number.

        Raises PromptRejected (ComfyUI's `error` and `node_errors` intact) when ComfyUI refuses it. A prompt
        that is not a JSON object of nodes is refused here in the same shape (ComfyUI would answer 500).
        """
        if prompt_id is None:
            prompt_id = str(uuid.uuid4())
        else:
            try:
                prompt_id = str(uuid.UUID(prompt_id))
            except (ValueError, TypeError, AttributeError) as exc:
                raise ValueError(f"prompt_id must be a UUID, got {prompt_id!r}") from exc
            self._forget_history((prompt_id,))  # the id is queued again: its old entry is being replaced
        if not isinstance(prompt, Mapping):
            raise PromptRejected(
                _local_error(
                    f"the prompt must be a JSON object mapping node ids to nodes, got {type(prompt).__name__}"
                )
            )
        body: dict[str, Any] = {"prompt": dict(prompt), "client_id": self.client_id, "prompt_id": prompt_id}
        if extra_data:
            body["extra_data"] = dict(extra_data)
        if front:
            body["front"] = True
        try:
            encoded = json.dumps(body, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise PromptRejected(_local_error(f"the prompt is not valid JSON: {exc}")) from exc
        request = self._http.build_request(
            "POST", "/prompt", content=encoded, headers={"Content-Type": "application/json"}
        )
        try:
            response = await self._http.send(request)
        except BadRequest as exc:
            payload = try_json(exc.body)
            if isinstance(payload, dict) and ("error" in payload or "node_errors" in payload):
                error = payload.get("error")
                if not isinstance(error, dict):
                    error = {"type": "invalid_prompt", "message": str(error), "details": "", "extra_info": {}}
                node_errors = payload.get("node_errors")
                raise PromptRejected(
                    error, node_errors if isinstance(node_errors, dict) else {}, exc.status_code, url=exc.url
                ) from exc
            raise
        data = self._http.decode(response)
        if not isinstance(data, dict) or "prompt_id" not in data:
            raise BadResponse(
                f"POST /prompt answered 200 without a prompt_id{excerpt(response.text)}",
                status_code=response.status_code,
                body=response.text,
                url=str(request.url),
            )
        if data["prompt_id"] != prompt_id:
            log.warning("ComfyUI replaced prompt_id %s by %s", prompt_id, data["prompt_id"])
        number = data.get("number")
        node_errors = data.get("node_errors")
        return Submitted(
            prompt_id=str(data["prompt_id"]),
            number=int(number) if isinstance(number, int | float) else 0,
            node_errors=node_errors if isinstance(node_errors, dict) else {},
            client_id=self.client_id,
        )

    async def history(self, prompt_id: str) -> HistoryEntry | None:
        """The finished job's entry; None while it is queued or running, and for ids ComfyUI does not know.

        Callers asking at once share one request, and an entry read lately is answered from memory (it never
        changes until `delete_history`), so following a job reads its history once.
        """
        entry = self._entries.get(prompt_id)
        if entry is not None:
            return entry
        reading = self._history_reads.get(prompt_id)
        if reading is None:
            reading = asyncio.ensure_future(self._read_history(prompt_id))
            self._history_reads[prompt_id] = reading
            reading.add_done_callback(lambda done: self._history_read(prompt_id, done))
        # Shielded: one caller giving up must not cancel the read the others wait for.
        return await asyncio.shield(reading)

    def _history_read(self, prompt_id: str, done: asyncio.Future[HistoryEntry | None]) -> None:
        if self._history_reads.get(prompt_id) is done:
            del self._history_reads[prompt_id]
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have been cancelled

    async def _read_history(self, prompt_id: str) -> HistoryEntry | None:
        data = await self._http.json("GET", f"/history/{quote(prompt_id, safe='')}")
        if not isinstance(data, dict):
            raise BadResponse(
                "GET /history/{id} did not answer an object", status_code=200, body=str(data)[:500]
            )
        raw = data.get(prompt_id)
        if not isinstance(raw, dict):
            return None
        entry = HistoryEntry.from_comfy(prompt_id, raw)
        if self._history_reads.get(prompt_id) is asyncio.current_task():  # not deleted meanwhile
            self._entries[prompt_id] = entry
        while len(self._entries) > HISTORY_MEMORY:
            self._entries.popitem(last=False)
        return entry

    def _forget_history(self, prompt_ids: tuple[str, ...]) -> None:
        for prompt_id in prompt_ids:
            self._entries.pop(prompt_id, None)
            self._history_reads.pop(prompt_id, None)  # a read in flight may predate the deletion

    async def history_all(
        self, *, max_items: int | None = None, offset: int | None = None
    ) -> dict[str, HistoryEntry]:
        """Finished jobs, oldest first (ComfyUI keeps at most 10,000, in memory only)."""
        data = await self._http.json("GET", "/history", params={"max_items": max_items, "offset": offset})
        if not isinstance(data, dict):
            raise BadResponse("GET /history did not answer an object", status_code=200, body=str(data)[:500])
        return {pid: HistoryEntry.from_comfy(pid, raw) for pid, raw in data.items() if isinstance(raw, dict)}

    async def delete_history(self, *prompt_ids: str) -> None:
        """Forget finished jobs (their output files stay on disk)."""
        self._forget_history(prompt_ids)
        if prompt_ids:
            await self._http.call("POST", "/history", json_body={"delete": list(prompt_ids)})

    async def queue(self) -> QueueSnapshot:
        """Running and pending jobs (pending sorted by queue number: the order they will run in)."""
        data = await self._http.json("GET", "/queue")
        if not isinstance(data, dict):
            raise BadResponse("GET /queue did not answer an object", status_code=200, body=str(data)[:500])
        return QueueSnapshot.from_comfy(data)

    async def delete_pending(self, *prompt_ids: str) -> None:
        """Remove pending jobs; a deleted job never runs nor reaches history. Running or unknown ids are
        ignored by ComfyUI (use `interrupt` for a running one)."""
        if prompt_ids:
            await self._http.call("POST", "/queue", json_body={"delete": list(prompt_ids)})

    async def interrupt(self, prompt_id: str | None = None) -> None:
        """Interrupt `prompt_id` if it is the running job (never someone else's); without an id, any job.

        ComfyUI stops at the next node or progress step; the job then ends with `execution_interrupted`.
        """
        await self._http.call("POST", "/interrupt", json_body={"prompt_id": prompt_id} if prompt_id else {})

    # -- catalog, models, files --------------------------------------------------------------------------

    async def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        """The node catalog (`{Class: spec}`); with `node_class`, that one class (NotFound if unknown)."""
        path = "/object_info" if node_class is None else f"/object_info/{quote(node_class, safe='')}"
        data = await self._http.json("GET", path)
        if not isinstance(data, dict):
            raise BadResponse(f"GET {path} did not answer an object", status_code=200, body=str(data)[:500])
        if node_class is not None and not data:
            raise NotFound(f"ComfyUI has no node class {node_class!r}", url=f"{self.base_url}{path}")
        return data

    async def model_folders(self) -> list[str]:
        """Model folder names (checkpoints, diffusion_models, text_encoders, vae, loras, ...)."""
        data = await self._http.json("GET", "/models")
        return [str(x) for x in data] if isinstance(data, list) else []

    async def models(self, folder: str) -> list[str]:
        """File names in a model folder (new files show without a restart); NotFound for an unknown one."""
        data = await self._http.json("GET", f"/models/{quote(folder, safe='')}")
        return [str(x) for x in data] if isinstance(data, list) else []

    async def view_metadata(self, folder: str, filename: str) -> dict[str, Any] | None:
        """The `__metadata__` of a .safetensors model file, or None when there is none to read.

        ComfyUI answers 404 for a missing file, a name not ending in .safetensors and a header without
        metadata, and HTTP 500 for a file too short to hold a header (an empty placeholder): all give None.
        """
        try:
            data = await self._http.json(
                "GET", f"/view_metadata/{quote(folder, safe='')}", params={"filename": filename}
            )
        except NotFound:
            return None
        except BadResponse as exc:
            if exc.status_code != 500:
                raise
            log.debug("ComfyUI could not read the header of %s/%s: %s", folder, filename, exc)
            return None
        return data if isinstance(data, dict) else None

    def view(
        self, filename: str, *, subfolder: str = "", type: str = "output", range: str | None = None
    ) -> AbstractAsyncContextManager[httpx.Response]:
        """Stream an output/input/temp file.

            async with client.view(name, subfolder=sub) as resp:
                async for chunk in resp.aiter_bytes(): ...

        `range` (e.g. "bytes=0-1023") is passed through: the response is then 206 with `Content-Range`.
        NotFound for a missing file; BadRequest for a bad `type` or a path escaping ComfyUI's folders.
        """
        request = self._http.build_request(
            "GET",
            "/view",
            params={"filename": filename, "subfolder": subfolder, "type": type},
            headers={"Range": range} if range else None,
        )
        return self._http.stream(request)

    async def upload(
        self,
        content: bytes,
        filename: str,
        *,
        type: str = "input",
        subfolder: str = "",
        overwrite: bool = True,
        content_type: str | None = None,
    ) -> UploadedFile:
        """Upload a file to ComfyUI's input (or temp/output) folder: images, and video/audio too.

        Returns where it was stored (`ref` is what LoadImage/LoadVideo take). BadRequest for a bad name/path.
        """
        if not filename:
            raise ValueError("upload needs a file name")
        mime = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        data = await self._http.json(
            "POST",
            "/upload/image",
            files={"image": (filename, content, mime)},
            data={"type": type, "subfolder": subfolder, "overwrite": "true" if overwrite else "false"},
        )
        if not isinstance(data, dict) or "name" not in data:
            raise BadResponse(
                "POST /upload/image answered without a file name", status_code=200, body=str(data)
            )
        return UploadedFile(
            name=str(data["name"]),
            subfolder=str(data.get("subfolder") or ""),
            type=str(data.get("type") or type),
        )

    # -- system -------------------------------------------------------------------------------------------

    async def system_stats(self) -> dict[str, Any]:
        """`{system: {comfyui_version, python_version, ram_total, ...}, devices: [...]}`."""
        data = await self._http.json("GET", "/system_stats")
        if not isinstance(data, dict):
            raise BadResponse(
                "GET /system_stats did not answer an object", status_code=200, body=str(data)[:500]
            )
        return data

    async def free(self, *, unload_models: bool = True, free_memory: bool = True) -> None:
        """Ask ComfyUI to unload models and/or free cached memory (applied between jobs)."""
        await self._http.call(
            "POST", "/free", json_body={"unload_models": unload_models, "free_memory": free_memory}
        )

    # -- events -------------------------------------------------------------------------------------------

    def events(
        self, *, poll_interval: float = 30.0, max_backlog: int = 10_000, grace: float = GRACE
    ) -> EventStream:
        """A new subscriber of this client's one reconnecting WebSocket (`async with client.events() as s`).

        ComfyUI keeps one socket per client id, so every stream of a client shares one connection.
        `poll_interval`: seconds between HTTP checks of tracked jobs; `max_backlog`: queued events after
        which a lagging subscriber loses progress/status events (never the others); `grace`: seconds a job
        that a check found finished waits for its live events (see `comfyui_client.stream`).
        """
        return EventStream(self._hub, self, poll_interval=poll_interval, max_backlog=max_backlog, grace=grace)

    async def wait_for(self, prompt_id: str, *, timeout: float) -> HistoryEntry:  # noqa: ASYNC109 (contract)
        """Wait until the job ends and return its history entry.

        Follows the event stream, with /queue + /history checks at the start, after reconnects and every 5 s.
        Raises ExecutionFailed, ExecutionInterrupted, JobLost (ComfyUI forgot the job, e.g. it restarted) or
        ComfyTimeout after `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        try:
            async with asyncio.timeout(timeout), self.events(poll_interval=5.0) as stream:
                stream.track(prompt_id)
                async for event in stream:
                    if event.prompt_id != prompt_id:
                        continue
                    if isinstance(event, JobLostEvent):
                        raise JobLost(prompt_id, event.reason, url=self.base_url)
                    if isinstance(event, ExecutingEvent) and event.is_finished:
                        break
                entry = await self.history_after_finish(
                    prompt_id, timeout=max(0.0, deadline - time.monotonic())
                )
        except TimeoutError as exc:
            raise ComfyTimeout(
                f"job {prompt_id} did not finish within {timeout:g} s", url=self.base_url
            ) from exc
        if entry is None:
            raise ComfyTimeout(f"job {prompt_id} finished but has no history entry", url=self.base_url)
        return entry.raise_for_outcome(url=self.base_url)

    async def history_after_finish(
        self,
        prompt_id: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (a bound on retries, not on one call)
    ) -> HistoryEntry | None:
        """The history entry of a job whose end was just seen; None if it does not appear within `timeout`.

        ComfyUI writes history before it sends `executing(None)`, so this normally answers at once; the
        retries (backoff from 50 ms to 1 s) cover a slow write. ComfyError (ComfyUI down) is raised as is.
        Used by `wait_for`, the gateway's job tracker and its pipeline executor alike.
        """
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            entry = await self.history(prompt_id)
            if entry is not None:
                return entry
            if time.monotonic() + delay > deadline:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


def _local_error(message: str) -> dict[str, Any]:
    return {"type": "invalid_prompt", "message": "Invalid prompt", "details": message, "extra_info": {}}


__all__ = ["ComfyClient", "ComfyError"]
