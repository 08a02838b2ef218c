"""Log lines that say which request and which job they belong to.

`request_id` and `job_id` are context variables: the `RequestId` middleware sets the first for every HTTP or
WebSocket request (the caller's `X-Request-ID` when it is a sane token, else a new one, and returns it in the
response), and `bind_job(prompt_id)` sets the second where a job is handled (asyncio tasks copy the context,
so tasks started inside a request keep its ids). `ContextFilter` copies both onto every record, and
`configure_logging(settings)` installs ONE formatter on the root logger: text, or one JSON object per line
(`LOG_FORMAT=json`).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from api.settings import Settings

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("job_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_NAME = REQUEST_ID_HEADER.lower().encode()
# A made id: this process's random half and a counter (32 hex digits, unique without a syscall per request).
_PROCESS_PART = os.urandom(8).hex()
_COUNTER = itertools.count(int.from_bytes(os.urandom(4), "big"))
# A caller's id is echoed back and written into logs: only short plain tokens (no log or header injection).
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s job=%(job_id)s] %(message)s"
# LogRecord attributes that are not the caller's `extra=` fields.
_RECORD_KEYS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def bind_job(prompt_id: str | None) -> Token[str | None]:
    """Log lines from here on in this context carry `prompt_id` as their job id."""
    return job_id.set(prompt_id)


class ContextFilter(logging.Filter):
    """Puts the context's request and job ids on every record (`-` when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        if not hasattr(record, "job_id"):
            record.job_id = job_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request and job ids, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "job_id"):
            value = getattr(record, key, None)
            if value not in (None, "-"):
                body[key] = value
        for key, value in vars(record).items():
            if key not in _RECORD_KEYS and key not in body and key not in ("request_id", "job_id"):
                body[key] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(settings: Settings) -> logging.Handler:
    """Root logging at `LOG_LEVEL` in `LOG_FORMAT`, uvicorn's loggers included; returns the handler.

    Replaces a handler this function installed before (a second app in one process does not double lines).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_comfy_gateway", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(settings.log_format))
    handler.addFilter(ContextFilter())
    handler._comfy_gateway = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers would print a second, unformatted copy.
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    return handler


def new_request_id() -> str:
    return f"{_PROCESS_PART}{next(_COUNTER) & 0xFFFFFFFFFFFFFFFF:016x}"


def accepted_request_id(scope: Scope) -> str:
    """The request's id: the caller's `X-Request-ID` when it is a sane token, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == _HEADER_NAME:
            given = value.decode("latin-1")
            return given if given and _SANE_ID.fullmatch(given) else new_request_id()
    return new_request_id()


def request_id_header(rid: str) -> tuple[bytes, bytes]:
    return (_HEADER_NAME, rid.encode("latin-1"))


def sending_request_id(send: Send, rid: str) -> Send:
    """`send`, with the request id put on the response's headers (replacing one the app set)."""
    header = request_id_header(rid)

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [h for h in message.get("headers", ()) if h[0].lower() != _HEADER_NAME]
            message["headers"] = [*headers, header]
        await send(message)

    return send_with_id


class RequestId:
    """Pure ASGI middleware: accept a sane `X-Request-ID` or make one, log under it, return it.

    `api.routes.fast_reads.FastReads`, in front of it, does the same for the reads it answers itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = accepted_request_id(scope)
        token = request_id.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        try:
            await self.app(scope, receive, sending_request_id(send, rid))
        finally:
            request_id.reset(token)
