"""`RequireKey`: pure ASGI middleware authenticating every HTTP request and WebSocket before any route runs.

Covering the whole app (docs, unknown paths, WebSocket handshakes) means no route can be forgotten; the
per-scope dependencies then authorize. A key comes from `Authorization: Bearer`, `X-API-Key`, or, for the
event streams browsers open without custom headers (WebSocket, EventSource), the `api_key` query parameter or
a WebSocket subprotocol `bearer.<key>`. Event streams also refuse a foreign `Origin` (CORS does not guard a
WebSocket).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth.keys import KeyRing, Principal
from api.errors import ApiError, Forbidden, error_response

OPEN_PATHS = frozenset({"/health/live"})
SUBPROTOCOL_PREFIX = "bearer."
_READ_HEADERS = frozenset({b"authorization", b"x-api-key", b"origin", b"host", b"sec-websocket-protocol"})


class Access:
    """The access check of one request: the caller's `Principal`, or the `ApiError` to answer (401/403).

    `RequireKey` runs it for every request; `api.routes.fast_reads.FastReads` runs the same check for the
    reads it answers in front of the middleware chain."""

    def __init__(self, keyring: KeyRing, allowed_origins: list[str]) -> None:
        self.keyring = keyring
        self.allowed_origins = {o.rstrip("/").lower() for o in allowed_origins}

    async def principal(self, scope: Scope) -> Principal:
        # Only the headers access reads are decoded (ASGI servers give names lower-cased already).
        raw = scope.get("headers", ())
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw if k in _READ_HEADERS}
        stream = scope["type"] == "websocket" or scope["path"].endswith("/events")
        if stream:
            self._check_origin(headers)
        return await self.keyring.principal(_presented_key(scope, headers, stream))

    def _check_origin(self, headers: dict[str, str]) -> None:
        origin = headers.get("origin")
        if origin is None:
            return  # not a browser: nothing to forge
        parts = urlsplit(origin)
        if (
            origin.rstrip("/").lower() in self.allowed_origins
            or parts.netloc.lower() == headers.get("host", "").lower()
        ):
            return
        raise Forbidden(f"Origin {origin!r} is not allowed (same origin, or one of CORS_ORIGINS)")


class RequireKey:
    def __init__(self, app: ASGIApp, keyring: KeyRing, allowed_origins: list[str]) -> None:
        self.app = app
        self.access = Access(keyring, allowed_origins)
        self.keyring = keyring

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.access.principal(scope)
        except ApiError as err:
            await _deny(scope, receive, send, err)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def _presented_key(scope: Scope, headers: dict[str, str], stream: bool) -> str | None:
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if headers.get("x-api-key", "").strip():
        return headers["x-api-key"].strip()
    if not stream:
        return None
    for protocol in headers.get("sec-websocket-protocol", "").split(","):
        protocol = protocol.strip()
        if protocol.startswith(SUBPROTOCOL_PREFIX) and len(protocol) > len(SUBPROTOCOL_PREFIX):
            return protocol[len(SUBPROTOCOL_PREFIX) :]
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), max_num_fields=50)
    values = query.get("api_key")
    return values[0] if values else None


async def _deny(scope: Scope, receive: Receive, send: Send, err: ApiError) -> None:
    """The error as a JSON answer; for a WebSocket, as the handshake's HTTP answer when the server can send
    one (uvicorn can), else the handshake is closed (the client sees 403)."""
    response = error_response(err)
    if scope["type"] == "http":
        await response(scope, receive, send)
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        body = json.dumps(err.body()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in (err.headers() or {}).items()]
        await send({"type": "websocket.http.response.start", "status": err.status_code, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": err.code})
