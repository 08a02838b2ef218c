"""The Comfy API v2 error envelope: `{"error": {"code", "message", "details"}}` on every /api/v2 answer.

Routes raise the gateway's `ApiError`s (v2's own codes below); `V2Envelope`, a pure ASGI middleware around
the whole app, rewrites every JSON error answered on an /api/v2 path (the routes', the key middleware's 401,
the rate limits' 429, the body limit's 413, FastAPI's 422) into the envelope with the contract's status and
code. It is the one seam: the user's spec routes keep their own error bodies.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError

PREFIX = "/api/v2"
MAX_ERROR_BODY = 1 << 20  # error bodies are small; a bigger one is passed through untouched


class WorkflowFormatUi(ApiError):
    status_code = 422
    code = "workflow_format_ui"


class MissingAsset(ApiError):
    status_code = 422
    code = "missing_asset"


class InvalidRequest(ApiError):
    """A body field the contract refuses (reserved fields, closed `extra_data`, bounds)."""

    status_code = 422
    code = "invalid_request"


class HashMismatch(ApiError):
    status_code = 409
    code = "hash_mismatch"


class AssetInUse(ApiError):
    status_code = 409
    code = "asset_in_use"


class BlobNotFound(ApiError):
    status_code = 404
    code = "blob_not_found"


class ListingNotServed(ApiError):
    """`GET /api/v2/jobs` (the SDK's `list_jobs`): the vendored contract defines only POST on that path."""

    status_code = 405
    code = "method_not_allowed"

    def headers(self) -> dict[str, str] | None:
        return {"Allow": "POST"}


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


# The gateway's codes -> the contract's (same meaning, the contract's word).
CODES = {
    "job_not_found": "not_found",
    "not_found": "not_found",
    "http_error": "not_found",
    "idempotency_key_reused": "idempotency_key_reuse",
    "gateway_busy": "queue_full",
    "too_many_pending_jobs": "queue_full",
    "malformed_request": "invalid_request",
    "bad_request": "invalid_request",
}
UPSTREAM_MESSAGE = "the gateway could not reach or use its ComfyUI backend; retry later"


def envelope(status: int, body: Any) -> tuple[int, dict[str, Any]]:
    """(status, envelope) for a gateway error answer (`{"detail", "code", ...extra}`)."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict) and "detail" not in body:
        return status, body  # already an envelope
    fields = dict(body) if isinstance(body, dict) else {}
    code = str(fields.pop("code", "") or "error")
    message = str(fields.pop("detail", "") or code)
    details: dict[str, Any] | None
    if code == "invalid_workflow":
        status, details = 422, _workflow_details(fields)
    else:
        details = {k: v for k, v in fields.items() if v is not None} or None
        code = CODES.get(code, code)
        if code == "queue_full":
            status = 429
        elif status == 400:
            status = 422  # the contract answers unusable input with 422
        elif status == 405:
            code = "method_not_allowed"
        elif status >= 500:
            # The contract's `upstream_error`: a generic message, details kept out (they name internals).
            message = UPSTREAM_MESSAGE if code != "internal_error" else "internal error"
            status, code, details = 500, "upstream_error", None
    return status, {"error": {"code": code, "message": message, "details": details}}


def _workflow_details(fields: dict[str, Any]) -> dict[str, Any]:
    """The catalog's (ComfyUI-shaped) node errors, per node as the contract's example lists them."""
    node_errors = fields.get("node_errors") if isinstance(fields.get("node_errors"), dict) else {}
    per_node: dict[str, list[dict[str, Any]]] = {}
    for node_id, info in (node_errors or {}).items():
        if not isinstance(info, dict):
            continue
        items = []
        for err in info.get("errors") or []:
            if not isinstance(err, dict):
                continue
            extra: dict[str, Any] = err["extra_info"] if isinstance(err.get("extra_info"), dict) else {}
            items.append(
                {
                    "field": extra.get("input_name"),
                    "reason": err.get("type"),
                    "message": err.get("message"),
                    "details": err.get("details"),
                    "class_type": info.get("class_type"),
                }
            )
        per_node[str(node_id)] = items
    return {"node_errors": per_node, "error": fields.get("error"), "comfy_node_errors": node_errors}


class V2Envelope:
    """Rewrites JSON error answers on /api/v2 paths into the contract's envelope (see the module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers", ())}
                is_json = headers.get(b"content-type", b"").startswith(b"application/json")
                if message["status"] >= 400 and is_json:
                    start = message  # held until the whole body is here
                    return
                await send(message)
                return
            if message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False) and sum(map(len, chunks)) <= MAX_ERROR_BODY:
                    return
                await _send_envelope(send, start, b"".join(chunks), message.get("more_body", False))
                start = None
                return
            await send(message)

        await self.app(scope, receive, wrapped)


async def _send_envelope(send: Send, start: Message, raw: bytes, more: bool) -> None:
    try:
        body = json.loads(raw) if not more else None
    except ValueError:
        body = None
    if body is None:
        await send(start)
        await send({"type": "http.response.body", "body": raw, "more_body": more})
        return
    status, payload = envelope(start["status"], body)
    data = json.dumps(payload).encode()
    headers = [
        (k, v)
        for k, v in start.get("headers", ())
        if k.lower() != b"content-length" and not (status == 500 and k.lower() == b"retry-after")
    ]
    headers.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
