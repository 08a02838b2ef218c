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

Every httpx error is translated in `_send` (the one seam) into the `comfyui_client.errors` tree; HTTP statuses
are mapped there too: 404 -> NotFound, other 4xx -> BadRequest (400 from POST /prompt -> PromptRejected), 5xx
and non-JSON bodies -> BadResponse. `timeout` bounds every HTTP request (connect, read, write, pool), so an
unreachable ComfyUI raises ComfyUnavailable within it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from comfyui_client.errors import (
    BadRequest,
    BadResponse,
    ComfyError,
    ComfyTimeout,
    ComfyUnavailable,
    JobLost,
    NotFound,
    PromptRejected,
)
from comfyui_client.events import ExecutingEvent, JobLostEvent
from comfyui_client.models import HistoryEntry, QueueSnapshot, Submitted, UploadedFile
from comfyui_client.stream import GRACE, EventHub, EventStream, WsConnect, default_ws_connect

log = logging.getLogger(__name__)

_BODY_EXCERPT = 500


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
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )
        ws_base = "ws" + self.base_url[len("http") :]
        self.ws_url = f"{ws_base}/ws?clientId={quote(self.client_id)}"
        self._hub = EventHub(
            self,
            self.ws_url,
            ws_connect or default_ws_connect(open_timeout=timeout),
            backoff=reconnect_backoff,
            ready_timeout=timeout,
        )

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

    # -- the seam: every HTTP exchange goes through here --------------------------------------------------

    async def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send `request`; translate transport errors and error statuses into ComfyError subclasses."""
        url = str(request.url)
        try:
            try:
                response = await self._http.send(request, stream=stream)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                # A pooled keep-alive connection the server closed meanwhile: a GET can safely go again.
                if request.method != "GET":
                    raise
                log.debug("retrying %s %s on a fresh connection", request.method, request.url.path)
                response = await self._http.send(request, stream=stream)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ComfyUnavailable(
                f"cannot connect to ComfyUI at {self.base_url}: {_why(exc)}", url=url
            ) from exc
        except httpx.TimeoutException as exc:
            raise ComfyTimeout(
                f"ComfyUI at {self.base_url} did not answer {request.method} {request.url.path} "
                f"within {self.timeout:g} s ({type(exc).__name__})",
                url=url,
            ) from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.UnsupportedProtocol) as exc:
            raise ComfyUnavailable(
                f"connection to ComfyUI at {self.base_url} failed: {_why(exc)}", url=url
            ) from exc
        except httpx.HTTPError as exc:
            raise BadResponse(
                f"unusable answer from ComfyUI at {self.base_url}: {_why(exc)}", status_code=0, url=url
            ) from exc
        if response.status_code < 400:
            return response
        try:
            if stream:
                await response.aread()
            body = response.text
        except httpx.HTTPError as exc:
            raise ComfyUnavailable(
                f"connection to ComfyUI at {self.base_url} failed: {_why(exc)}", url=url
            ) from exc
        finally:
            if stream:
                await response.aclose()
        status = response.status_code
        what = f"{request.method} {request.url.path}"
        if status == 404:
            raise NotFound(f"ComfyUI has no such resource: {what} answered 404", url=url)
        if 400 <= status < 500:
            raise BadRequest(
                f"ComfyUI refused {what} with HTTP {status}{_excerpt(body)}",
                status_code=status,
                body=body,
                url=url,
            )
        raise BadResponse(
            f"ComfyUI failed on {what} with HTTP {status}{_excerpt(body)}",
            status_code=status,
            body=body,
            url=url,
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        files: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        kwargs: dict[str, Any] = {}
        if params:
            kwargs["params"] = {k: v for k, v in params.items() if v is not None}
        if json_body is not None:
            kwargs["json"] = json_body
        if files is not None:
            kwargs["files"] = files
        if data is not None:
            kwargs["data"] = data
        return await self._send(self._http.build_request(method, path, **kwargs))

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._call(method, path, **kwargs)
        return self._decode(response)

    def _decode(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise BadResponse(
                f"ComfyUI answered {response.request.method} {response.request.url.path} with non-JSON"
                f"{_excerpt(response.text)}",
                status_code=response.status_code,
                body=response.text,
                url=str(response.request.url),
            ) from exc

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
            response = await self._send(request)
        except BadRequest as exc:
            payload = _try_json(exc.body)
            if isinstance(payload, dict) and ("error" in payload or "node_errors" in payload):
                error = payload.get("error")
                if not isinstance(error, dict):
                    error = {"type": "invalid_prompt", "message": str(error), "details": "", "extra_info": {}}
                node_errors = payload.get("node_errors")
                raise PromptRejected(
                    error, node_errors if isinstance(node_errors, dict) else {}, exc.status_code, url=exc.url
                ) from exc
            raise
        data = self._decode(response)
        if not isinstance(data, dict) or "prompt_id" not in data:
            raise BadResponse(
                f"POST /prompt answered 200 without a prompt_id{_excerpt(response.text)}",
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
        """The finished job's entry; None while it is queued or running, and for ids ComfyUI does not know."""
        data = await self._json("GET", f"/history/{quote(prompt_id, safe='')}")
        if not isinstance(data, dict):
            raise BadResponse(
                "GET /history/{id} did not answer an object", status_code=200, body=str(data)[:500]
            )
        raw = data.get(prompt_id)
        return HistoryEntry.from_comfy(prompt_id, raw) if isinstance(raw, dict) else None

    async def history_all(
        self, *, max_items: int | None = None, offset: int | None = None
    ) -> dict[str, HistoryEntry]:
        """Finished jobs, oldest first (ComfyUI keeps at most 10,000, in memory only)."""
        data = await self._json("GET", "/history", params={"max_items": max_items, "offset": offset})
        if not isinstance(data, dict):
            raise BadResponse("GET /history did not answer an object", status_code=200, body=str(data)[:500])
        return {pid: HistoryEntry.from_comfy(pid, raw) for pid, raw in data.items() if isinstance(raw, dict)}

    async def delete_history(self, *prompt_ids: str) -> None:
        """Forget finished jobs (their output files stay on disk)."""
        if prompt_ids:
            await self._call("POST", "/history", json_body={"delete": list(prompt_ids)})

    async def queue(self) -> QueueSnapshot:
        """Running and pending jobs (pending sorted by queue number: the order they will run in)."""
        data = await self._json("GET", "/queue")
        if not isinstance(data, dict):
            raise BadResponse("GET /queue did not answer an object", status_code=200, body=str(data)[:500])
        return QueueSnapshot.from_comfy(data)

    async def delete_pending(self, *prompt_ids: str) -> None:
        """Remove pending jobs; a deleted job never runs nor reaches history. Running or unknown ids are
        ignored by ComfyUI (use `interrupt` for a running one)."""
        if prompt_ids:
            await self._call("POST", "/queue", json_body={"delete": list(prompt_ids)})

    async def interrupt(self, prompt_id: str | None = None) -> None:
        """Interrupt `prompt_id` if it is the running job (never someone else's); without an id, any job.

        ComfyUI stops at the next node or progress step; the job then ends with `execution_interrupted`.
        """
        await self._call("POST", "/interrupt", json_body={"prompt_id": prompt_id} if prompt_id else {})

    # -- catalog, models, files --------------------------------------------------------------------------

    async def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        """The node catalog (`{Class: spec}`); with `node_class`, that one class (NotFound if unknown)."""
        path = "/object_info" if node_class is None else f"/object_info/{quote(node_class, safe='')}"
        data = await self._json("GET", path)
        if not isinstance(data, dict):
            raise BadResponse(f"GET {path} did not answer an object", status_code=200, body=str(data)[:500])
        if node_class is not None and not data:
            raise NotFound(f"ComfyUI has no node class {node_class!r}", url=f"{self.base_url}{path}")
        return data

    async def model_folders(self) -> list[str]:
        """Model folder names (checkpoints, diffusion_models, text_encoders, vae, loras, ...)."""
        data = await self._json("GET", "/models")
        return [str(x) for x in data] if isinstance(data, list) else []

    async def models(self, folder: str) -> list[str]:
        """File names in a model folder (new files show without a restart); NotFound for an unknown one."""
        data = await self._json("GET", f"/models/{quote(folder, safe='')}")
        return [str(x) for x in data] if isinstance(data, list) else []

    async def view_metadata(self, folder: str, filename: str) -> dict[str, Any] | None:
        """The `__metadata__` of a .safetensors model file, or None when there is none to read.

        ComfyUI answers 404 for a missing file, a name not ending in .safetensors and a header without
        metadata, and HTTP 500 for a file too short to hold a header (an empty placeholder): all give None.
        """
        try:
            data = await self._json(
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
        return self._view(filename, subfolder=subfolder, type_=type, range_=range)

    @asynccontextmanager
    async def _view(
        self, filename: str, *, subfolder: str, type_: str, range_: str | None
    ) -> AsyncIterator[httpx.Response]:
        headers = {"Range": range_} if range_ else None
        request = self._http.build_request(
            "GET",
            "/view",
            params={"filename": filename, "subfolder": subfolder, "type": type_},
            headers=headers,
        )
        response = await self._send(request, stream=True)
        if isinstance(response.stream, httpx.AsyncByteStream):
            response.stream = _TranslatingStream(response.stream, self.base_url)
        try:
            yield response
        finally:
            await response.aclose()

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
        data = await self._json(
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
        data = await self._json("GET", "/system_stats")
        if not isinstance(data, dict):
            raise BadResponse(
                "GET /system_stats did not answer an object", status_code=200, body=str(data)[:500]
            )
        return data

    async def free(self, *, unload_models: bool = True, free_memory: bool = True) -> None:
        """Ask ComfyUI to unload models and/or free cached memory (applied between jobs)."""
        await self._call(
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
        return EventStream(self._hub, poll_interval=poll_interval, max_backlog=max_backlog, grace=grace)

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
                entry = await self._history_after_finish(prompt_id, deadline)
        except TimeoutError as exc:
            raise ComfyTimeout(
                f"job {prompt_id} did not finish within {timeout:g} s", url=self.base_url
            ) from exc
        return entry.raise_for_outcome(url=self.base_url)

    async def _history_after_finish(self, prompt_id: str, deadline: float) -> HistoryEntry:
        # `executing(None)` follows the history write, so this normally succeeds at once.
        delay = 0.05
        while True:
            entry = await self.history(prompt_id)
            if entry is not None:
                return entry
            if time.monotonic() + delay > deadline:
                raise ComfyTimeout(f"job {prompt_id} finished but has no history entry", url=self.base_url)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


class _TranslatingStream(httpx.AsyncByteStream):
    """Wraps a streamed body so that reading it raises ComfyError subclasses, like the rest of the client."""

    def __init__(self, inner: httpx.AsyncByteStream, base_url: str) -> None:
        self._inner = inner
        self._base_url = base_url

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except httpx.TimeoutException as exc:
            raise ComfyTimeout(
                f"ComfyUI at {self._base_url} stalled while sending a file", url=self._base_url
            ) from exc
        except httpx.HTTPError as exc:
            raise ComfyUnavailable(
                f"connection to ComfyUI at {self._base_url} broke while sending a file: {_why(exc)}",
                url=self._base_url,
            ) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _excerpt(body: str) -> str:
    body = body.strip()
    if not body:
        return ""
    return ": " + (body if len(body) <= _BODY_EXCERPT else body[:_BODY_EXCERPT] + "...")


def _try_json(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _local_error(message: str) -> dict[str, Any]:
    return {"type": "invalid_prompt", "message": "Invalid prompt", "details": message, "extra_info": {}}


__all__ = ["ComfyClient", "ComfyError"]
