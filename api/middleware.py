"""Pure ASGI middleware: refuse request bodies over `max_body_bytes` (413) by header and by streamed size.

Uploads keep a bigger limit of their own (`path_limits`, e.g. POST /api/inputs -> `max_upload_bytes`): a
workflow is kilobytes, an input video is not. A request whose framing already bounds its body (a declared
length within the limit, or HTTP/1 without a body) is passed on as is: the server delivers no more than that,
and the hot reads (GET, no body) skip two wrappers per request (issue 13).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _TooLarge(BaseException):
    """Raised inside receive() to unwind the app once the body passes the limit."""


def body_framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length (the largest if repeated, 0 when unreadable, None when absent) and whether
    the body is chunked."""
    declared: int | None = None
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = 0
            declared = length if declared is None else max(declared, length)
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked


def framing_bounds(scope: Scope, declared: int | None, chunked: bool) -> bool:
    """Whether the request's framing bounds its body (a declared length, or HTTP/1 without a body): the
    server delivers no more than that, so the body needs no counting once the length is within the limit."""
    return not chunked and (declared is not None or scope.get("http_version") in ("1.0", "1.1"))


def passes_untouched(scope: Scope, limit: int) -> bool:
    """Whether `BodySizeLimit` would hand this request on as is (`FastReads` answers only those)."""
    declared, chunked = body_framing(scope)
    return (declared is None or declared <= limit) and framing_bounds(scope, declared, chunked)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})

    def limit_for(self, path: str) -> int:
        return self.path_limits.get(path.rstrip("/") or "/", self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared, chunked = body_framing(scope)
        if declared is not None and declared > limit:
            await self._reject(send, limit)
            return
        if framing_bounds(scope, declared, chunked):
            await self.app(scope, receive, send)  # the framing bounds the body: nothing to count
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send, limit)

    async def _reject(self, send: Send, limit: int) -> None:
        body = json.dumps(
            {
                "detail": f"request body larger than the limit of {limit} bytes "
                + ("(MAX_BODY_BYTES)" if limit == self.max_bytes else "(MAX_UPLOAD_BYTES)"),
                "code": "payload_too_large",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
