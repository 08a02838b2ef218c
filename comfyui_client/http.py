"""The HTTP translation seam: every request to ComfyUI goes through `ComfyHttp.send`.

httpx errors are translated here, once, into the `comfyui_client.errors` tree, and HTTP statuses are mapped
too: 404 -> NotFound, other 4xx -> BadRequest (the client turns a 400 from POST /prompt into PromptRejected),
5xx and non-JSON bodies -> BadResponse. `timeout` bounds every request (connect, read, write, pool), so an
unreachable ComfyUI raises ComfyUnavailable within it. Streamed bodies (`view`) translate read errors too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from comfyui_client.errors import BadRequest, BadResponse, ComfyTimeout, ComfyUnavailable, NotFound
from comfyui_client.transport import StreamTransport

log = logging.getLogger(__name__)

_BODY_EXCERPT = 500


class ComfyHttp:
    """One httpx.AsyncClient for one ComfyUI, answering only in ComfyError subclasses. Its transport is
    `StreamTransport` (lean keep-alive HTTP/1.1) unless another is injected."""

    def __init__(
        self, base_url: str, *, timeout: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._transport = transport or StreamTransport()
        # Builds the requests (base URL, default headers, the timeout extension); they go straight to the
        # transport (`_exchange`): the client's per-request auth, redirect, cookie and hook machinery, unused
        # here, cost as much CPU as the exchange itself.
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            transport=self._transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def build_request(self, method: str, path: str, **kwargs: Any) -> httpx.Request:
        return self._http.build_request(method, path, **kwargs)

    async def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send `request`; translate transport errors and error statuses into ComfyError subclasses."""
        url = str(request.url)
        try:
            try:
                response = await self._exchange(request, stream)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                # A pooled keep-alive connection the server closed meanwhile: a GET can safely go again.
                if request.method != "GET":
                    raise
                log.debug("retrying %s %s on a fresh connection", request.method, request.url.path)
                response = await self._exchange(request, stream)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ComfyUnavailable(
                f"cannot connect to ComfyUI at {self.base_url}: {why(exc)}", url=url
            ) from exc
        except httpx.TimeoutException as exc:
            raise ComfyTimeout(
                f"ComfyUI at {self.base_url} did not answer {request.method} {request.url.path} "
                f"within {self.timeout:g} s ({type(exc).__name__})",
                url=url,
            ) from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.UnsupportedProtocol) as exc:
            raise ComfyUnavailable(
                f"connection to ComfyUI at {self.base_url} failed: {why(exc)}", url=url
            ) from exc
        except httpx.HTTPError as exc:
            raise BadResponse(
                f"unusable answer from ComfyUI at {self.base_url}: {why(exc)}", status_code=0, url=url
            ) from exc
        if response.status_code < 400:
            return response
        try:
            if stream:
                await response.aread()
            body = response.text
        except httpx.HTTPError as exc:
            raise ComfyUnavailable(
                f"connection to ComfyUI at {self.base_url} failed: {why(exc)}", url=url
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
                f"ComfyUI refused {what} with HTTP {status}{excerpt(body)}",
                status_code=status,
                body=body,
                url=url,
            )
        raise BadResponse(
            f"ComfyUI failed on {what} with HTTP {status}{excerpt(body)}",
            status_code=status,
            body=body,
            url=url,
        )

    async def _exchange(self, request: httpx.Request, stream: bool) -> httpx.Response:
        """One request through the transport; the body read unless `stream`."""
        response = await self._transport.handle_async_request(request)
        response.request = request
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response

    async def call(
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
        return await self.send(self._http.build_request(method, path, **kwargs))

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.decode(await self.call(method, path, **kwargs))

    def decode(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise BadResponse(
                f"ComfyUI answered {response.request.method} {response.request.url.path} with non-JSON"
                f"{excerpt(response.text)}",
                status_code=response.status_code,
                body=response.text,
                url=str(response.request.url),
            ) from exc

    @asynccontextmanager
    async def stream(self, request: httpx.Request) -> AsyncIterator[httpx.Response]:
        """A streamed response whose body raises ComfyError subclasses when reading it fails."""
        response = await self.send(request, stream=True)
        if isinstance(response.stream, httpx.AsyncByteStream):
            response.stream = _TranslatingStream(response.stream, self.base_url)
        try:
            yield response
        finally:
            await response.aclose()


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
                f"connection to ComfyUI at {self._base_url} broke while sending a file: {why(exc)}",
                url=self._base_url,
            ) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


def why(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def excerpt(body: str) -> str:
    body = body.strip()
    if not body:
        return ""
    return ": " + (body if len(body) <= _BODY_EXCERPT else body[:_BODY_EXCERPT] + "...")


def try_json(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
