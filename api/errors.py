"""The API's one exception tree and the seam that turns every error into a JSON answer.

Each `ApiError` knows its HTTP status and a stable `code`; handlers render `{"detail", "code", ...}`.
Errors of the ComfyUI client are translated here, once, so routes never build error responses by hand.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.redaction import redact

if TYPE_CHECKING:
    from pipeline import GenerationResult

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
BODY_PARSE_ERROR = "There was an error parsing the body"  # FastAPI's HTTPException detail
EXAMPLE_BODY = '{"workflow": {"prompt": {"1": {"class_type": "...", "inputs": {}}}}}'


class ApiError(Exception):
    """Base of every error the gateway answers on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"detail": self.message, "code": self.code, **self.extra}

    def headers(self) -> dict[str, str] | None:
        return None


class BadRequest(ApiError):
    """The request is well-formed JSON but its content cannot be used (400)."""

    status_code = 400
    code = "bad_request"


class UrlNotAllowed(BadRequest):
    """A URL the gateway was asked to fetch points at a non-public or refused address (400)."""

    code = "url_not_allowed"


class InvalidWorkflow(BadRequest):
    """The workflow failed validation; carries ComfyUI's `error` and `node_errors` shapes (400)."""

    code = "invalid_workflow"

    def __init__(
        self, message: str, *, error: dict[str, Any] | None = None, node_errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, extra={"error": error, "node_errors": node_errors or {}})
        self.error = error
        self.node_errors = node_errors or {}

    @classmethod
    def from_comfy_body(cls, body: dict[str, Any]) -> InvalidWorkflow:
        """Build from ComfyUI's (or the validator's) 400 body `{"error": {...}, "node_errors": {...}}`."""
        error = body.get("error") if isinstance(body.get("error"), dict) else None
        node_errors = body.get("node_errors") if isinstance(body.get("node_errors"), dict) else {}
        message = _workflow_message(error, node_errors or {})
        return cls(message, error=error, node_errors=node_errors)


# --- access (api/auth) ---------------------------------------------------------------------------------
class Unauthorized(ApiError):
    """No API key, or one the gateway does not know (401)."""

    status_code = 401
    code = "unauthorized"

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": 'Bearer realm="comfy-gateway"'}


class Forbidden(ApiError):
    """A known key without the scope the route needs, or a refused `Origin` (403)."""

    status_code = 403
    code = "forbidden"


class Conflict(ApiError):
    """The request would replace something that belongs to another key (409)."""

    status_code = 409
    code = "conflict"


class JobNotFound(ApiError):
    status_code = 404
    code = "job_not_found"

    def __init__(self, prompt_id: str) -> None:
        super().__init__(f"no job with prompt_id {prompt_id!r} (submit one with POST /api/workflow/submit)")


class NotFoundError(ApiError):
    status_code = 404
    code = "not_found"


class JobAlreadyFinished(ApiError):
    status_code = 409
    code = "job_finished"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "payload_too_large"


class BackendUnavailable(ApiError):
    """ComfyUI did not answer (503 with Retry-After)."""

    status_code = 503
    code = "comfyui_unavailable"

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}


class BackendError(ApiError):
    """ComfyUI answered something the gateway cannot use (502)."""

    status_code = 502
    code = "comfyui_bad_response"


class MissingCapability(ApiError):
    """The request needs what the backend lacks (node pack, model files); never replaced by another thing."""

    status_code = 422
    code = "missing_capability"


class UnprocessableGeneration(ApiError):
    """The request was understood but no valid workflow could be made from it (422)."""

    status_code = 422
    code = "generation_failed"


class LLMBackendError(ApiError):
    status_code = 502
    code = "llm_error"


class LLMBackendUnavailable(BackendUnavailable):
    code = "llm_unavailable"


def generation_error(result: GenerationResult) -> ApiError | None:
    """The API error for a generation run that produced no usable workflow (None when it did).

    Every such answer carries the run's `thread_id` (GET /api/workflow/generate/{thread_id} shows its steps).
    """
    if result.error is None or result.error_code in {"execution_failed", None}:
        return None
    code = result.error_code
    run = {"thread_id": result.thread_id}
    if code == "llm_unavailable":
        return LLMBackendUnavailable(result.error, extra=run)
    if code == "llm_error":
        return LLMBackendError(result.error, extra=run)
    if code == "backend_unavailable":
        return BackendUnavailable(result.error, extra=run)
    if code == "backend_error":
        return BackendError(result.error, extra=run)
    if code == "missing_capability":
        return MissingCapability(result.error, extra={"steps": result.steps, "plan": result.plan, **run})
    if code == "invalid_workflow" and result.validation:
        err = InvalidWorkflow.from_comfy_body(result.validation)
        err.extra.update(run)
        return err
    return UnprocessableGeneration(
        result.error,
        extra={"steps": result.steps, "intent": result.intent, "validation": result.validation, **run},
    )


def raise_for(result: GenerationResult) -> None:
    """Raise `generation_error(result)`, if any."""
    err = generation_error(result)
    if err is not None:
        raise err


def _workflow_message(error: dict[str, Any] | None, node_errors: dict[str, Any]) -> str:
    parts: list[str] = []
    if error and error.get("message"):
        parts.append(str(error["message"]).strip())
    for node_id, info in list(node_errors.items())[:5]:
        if not isinstance(info, dict):
            continue
        for err in info.get("errors", [])[:3]:
            if isinstance(err, dict):
                message, details = err.get("message"), err.get("details")
                detail = f"{message}: {details}" if message and details else (details or message)
                parts.append(f"node {node_id} ({info.get('class_type', '?')}): {detail}")
    return "; ".join(parts) or "the workflow is invalid"


def translate_comfy_error(exc: Exception) -> ApiError | None:
    """Map a `comfyui_client` error to the API error a user sees (None: not a client error)."""
    from comfyui_client import BadRequest as ComfyBadRequest
    from comfyui_client import (
        BadResponse,
        ComfyError,
        ComfyTimeout,
        ComfyUnavailable,
        NotFound,
        PromptRejected,
    )

    if not isinstance(exc, ComfyError):
        return None
    if isinstance(exc, ComfyUnavailable | ComfyTimeout):
        return BackendUnavailable(f"ComfyUI is unreachable: {exc}")
    if isinstance(exc, PromptRejected):
        return InvalidWorkflow.from_comfy_body(exc.body)
    if isinstance(exc, ComfyBadRequest):
        return BadRequest(f"ComfyUI refused the request: {exc}")
    if isinstance(exc, NotFound):
        return NotFoundError(str(exc) or "not found on ComfyUI")
    if isinstance(exc, BadResponse):
        return BackendError(f"ComfyUI gave an unusable answer: {exc}")
    return BackendError(f"ComfyUI error: {exc}")


def error_response(err: ApiError) -> JSONResponse:
    body = err.body()
    body["detail"] = redact(str(body.get("detail", "")))  # a ComfyUI URL with credentials, an LLM key ...
    return JSONResponse(body, status_code=err.status_code, headers=err.headers())


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: ApiError, ComfyUI client errors, request validation, and real bugs (500)."""
    from comfyui_client import ComfyError

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = tuple(p for p in first.get("loc", ()) if p != "body")
        if first.get("type") == "json_invalid":
            reason = first.get("ctx", {}).get("error", "parse error")
            message = f"the request body is not valid JSON ({reason})"
        elif not loc and first.get("type") == "missing":
            message = f"the request body is empty: send a JSON object, e.g. {EXAMPLE_BODY}"
        elif not loc:
            message = f"the request body must be a JSON object, e.g. {EXAMPLE_BODY}"
        else:
            message = f"malformed request: {'.'.join(map(str, loc))}: {first.get('msg', 'invalid')}"
        safe = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in errors]
        return JSONResponse({"detail": message, "code": "malformed_request", "errors": safe}, status_code=422)

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
            # FastAPI's answer to a body json.loads could not read (bad UTF-8, nested past the parser's
            # recursion limit, an integer over 4300 digits): a malformed request like any other (422).
            message = (
                "the request body is not valid JSON (bad encoding, nested too deep or a number too long)"
            )
            return JSONResponse(
                {"detail": message, "code": "malformed_request", "errors": []}, status_code=422
            )
        return JSONResponse(
            {"detail": redact(str(exc.detail)), "code": "http_error"},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    async def on_comfy(_: Request, exc: Exception) -> JSONResponse:
        translated = translate_comfy_error(exc)
        assert translated is not None
        return error_response(translated)

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return JSONResponse(
            {"detail": "internal error (this is a bug in the gateway)", "code": "internal_error"},
            status_code=500,
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(ComfyError, on_comfy)
    app.add_exception_handler(Exception, on_unexpected)
