"""`FastReads`: pure ASGI middleware answering the two hottest reads without FastAPI's routing.

Through FastAPI a status poll or a queue read pays for matching the path against every route and for solving
five dependencies: several times what the read itself costs (benchmarks/README.md). Installed innermost (the
access middleware has set the caller), this recognises `GET /api/workflow/status/{prompt_id}` and
`GET /api/queue` and calls the very same route functions with the very same dependencies (the router's rate
limit, `api.routes.hot`), turning errors into the very same answers (`api.errors`). Anything else goes on to
the app unchanged; the routes stay registered (OpenAPI, apps built without this middleware). A finished
job's status body is kept serialised (`_FINISHED`): polling a finished job costs the checks and a lookup.
`install_in_front` puts one more before the whole middleware stack, so these reads also skip its layers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth.middleware import Access
from api.errors import ApiError, error_response, translate_comfy_error
from api.jobs.state import Job
from api.limits import rate_limit
from api.logs import accepted_request_id, request_id, request_id_header, sending_request_id
from api.middleware import passes_untouched
from api.routes import hot, system, workflow
from api.webhooks import webhook_url_of
from comfyui_client import ComfyError

log = logging.getLogger(__name__)
STATUS_PREFIX = workflow.router.prefix + "/status/"
QUEUE_PATH = "/api/queue"
_JSON = (b"content-type", b"application/json")


# Finished jobs' status bodies, already serialised: a finished job no longer changes, so polling it costs
# the access checks and a dict lookup. Keyed by what the body depends on: the job (the very object, and the
# fields a late event could still touch) and the request's base URL (output URLs). A job with a webhook is
# never cached: its deliveries go on after it finished.
_FINISHED: dict[tuple[Any, ...], bytes] = {}
_FINISHED_MAX = 4096


def _finished_key(job: Job, scope: Scope) -> tuple[Any, ...] | None:
    if not job.terminal or webhook_url_of(job) is not None:
        return None
    host = next((v for k, v in scope.get("headers", ()) if k == b"host"), None)
    where = (scope.get("scheme"), host, scope.get("server"), scope.get("root_path"))
    return (job.prompt_id, id(job), job.status, job.finished_at, len(job.outputs), job.error is None, where)


async def _status(request: Request, prompt_id: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    principal = await hot.read_access(request)
    jobs = await hot.jobs_of(request)
    job = await workflow.owned_job(jobs, prompt_id, principal)  # 404 for an unknown or foreign job first
    key = _finished_key(job, request.scope)
    cached = _FINISHED.get(key) if key is not None else None
    if cached is not None:
        return cached, []
    body = _dump(await workflow.status(prompt_id, request, jobs, await hot.settings_of(request), principal))
    if key is not None:
        if len(_FINISHED) >= _FINISHED_MAX:
            del _FINISHED[next(iter(_FINISHED))]  # the oldest
        _FINISHED[key] = body
    return body, []


async def _queue(request: Request, _: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    principal = await hot.read_access(request)
    headers = Response()  # what the route sets on its `response` parameter, as FastAPI would merge it
    del headers.headers["content-length"]
    body = await system.queue(await hot.jobs_of(request), principal, headers)
    return _dump(body, exclude_none=True), headers.raw_headers


def _dump(body: BaseModel, *, exclude_none: bool = False) -> bytes:
    """The body as FastAPI's `response_model` serialisation gives it (by alias, JSON mode)."""
    return body.model_dump_json(by_alias=True, exclude_none=exclude_none).encode()


Handler = Callable[[Request, str], Awaitable[tuple[bytes, list[tuple[bytes, bytes]]]]]


def _route(scope: Scope) -> tuple[Handler, str] | None:
    if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
        return None
    path: str = scope["path"]
    if path == QUEUE_PATH:
        return _queue, ""
    if path.startswith(STATUS_PREFIX):
        prompt_id = path[len(STATUS_PREFIX) :]
        if prompt_id and "/" not in prompt_id:  # the route's `{prompt_id}`: one non-empty segment
            return _status, prompt_id
    return None


class FastReads:
    """Innermost (no `access`): answers the two reads once `RequireKey` has set the caller, else passes on.

    In front (`access`, `max_body_bytes`; `install_in_front`, issue 13): answers them before the whole
    middleware stack, doing itself what the stack's layers would do to such a request: the request id
    (`api.logs`), the key check (`api.auth.middleware.Access`, 401/403 answered the same way). It takes only
    requests those layers would hand on unchanged otherwise: a body the framing bounds within
    `max_body_bytes` (`api.middleware.passes_untouched`) and, with `cors`, no `Origin` header. Anything else,
    and a read that fails unexpectedly (a fault, not an answer), goes through the stack, where an innermost
    `FastReads` answers the read or the server-error layer answers the fault as for any route."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        access: Access | None = None,
        max_body_bytes: int | None = None,
        cors: bool = False,
    ) -> None:
        self.app = app
        self.access = access
        self.max_body_bytes = max_body_bytes
        self.cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = _route(scope)
        if found is not None:
            if "principal" in scope.get("state", ()):  # behind the access middleware
                await _respond(scope, receive, send, await _read(Request(scope, receive), *found))
                return
            if self.access is not None and self._in_front(scope):
                await self._front(scope, receive, send, *found)
                return
        await self.app(scope, receive, send)

    def _in_front(self, scope: Scope) -> bool:
        if self.max_body_bytes is not None and not passes_untouched(scope, self.max_body_bytes):
            return False
        return not (self.cors and any(k == b"origin" for k, _ in scope.get("headers", ())))

    async def _front(self, scope: Scope, receive: Receive, send: Send, handler: Handler, arg: str) -> None:
        assert self.access is not None
        rid = accepted_request_id(scope)
        token = request_id.set(rid)
        try:
            state = scope.setdefault("state", {})
            state["request_id"] = rid
            outcome: Outcome
            try:
                try:
                    state["principal"] = await self.access.principal(scope)
                except ApiError as err:
                    outcome = err
                else:
                    outcome = await _read(Request(scope, receive), handler, arg)
            except Exception:
                log.warning(
                    "a read failed in front of the middleware stack; the stack answers it", exc_info=True
                )
                await self.app(scope, receive, send)
                return
            await _respond(scope, receive, send, outcome, rid)
        finally:
            request_id.reset(token)


Outcome = tuple[bytes, list[tuple[bytes, bytes]]] | ApiError


async def _read(request: Request, handler: Handler, arg: str) -> Outcome:
    """The route's body and extra headers, or the error it answers (a fault is raised)."""
    try:
        await rate_limit(request)
        return await handler(request, arg)
    except ApiError as err:
        return err
    except ComfyError as exc:
        translated = translate_comfy_error(exc)
        if translated is None:
            raise
        return translated


async def _respond(
    scope: Scope, receive: Receive, send: Send, outcome: Outcome, rid: str | None = None
) -> None:
    """Send the outcome; `rid`: the request id to send back (answered in front of `RequestId`)."""
    if isinstance(outcome, ApiError):
        await error_response(outcome)(scope, receive, send if rid is None else sending_request_id(send, rid))
        return
    body, headers = outcome
    start = [(b"content-length", str(len(body)).encode()), _JSON, *headers]
    if rid is not None:
        start.append(request_id_header(rid))
    await send({"type": "http.response.start", "status": 200, "headers": start})
    await send({"type": "http.response.body", "body": body})


def install_in_front(app: FastAPI, access: Access, *, max_body_bytes: int, cors: bool) -> None:
    """Put a `FastReads` in front of the app's whole middleware stack, FastAPI's own layers too (server
    errors, exception telemetry, the mounted-app body limit: a tenth of a read's cost, issue 13)."""
    build = app.build_middleware_stack

    def build_with_fast_reads() -> ASGIApp:
        return FastReads(build(), access=access, max_body_bytes=max_body_bytes, cors=cors)

    app.build_middleware_stack = build_with_fast_reads  # type: ignore[method-assign]
