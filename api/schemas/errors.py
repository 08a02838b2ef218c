"""The error bodies of the API, in the OpenAPI document as they really are sent.

Every error is `{"detail": str, "code": str, ...}` (`api.errors`); a malformed request (422) adds `errors`,
a list of `{type, loc, msg}`. FastAPI documents 422 as its own `HTTPValidationError` (`detail` a list), which
the gateway never sends: `document_errors` replaces that schema with the real one and gives every error
response of every operation the `ErrorBody` schema, plus the 413 of the body-size limit wherever a body is
taken and the 422 wherever a request can be malformed.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """Any error answer of the gateway; some codes add fields (`error`, `node_errors`, `errors`, ...)."""

    model_config = ConfigDict(extra="allow")

    detail: str = Field(..., description="What went wrong, for a person")
    code: str = Field(..., description="Stable machine-readable error code")


class FieldError(BaseModel):
    type: str
    loc: list[str | int]
    msg: str


class MalformedRequest(ErrorBody):
    """422: the request does not fit the documented body or parameters."""

    errors: list[FieldError] = Field(default_factory=list)


_REF = "#/components/schemas/"
_GENERIC = {
    "400": "Bad request: the content cannot be used (the body says why)",
    "413": "Request body too large (MAX_BODY_BYTES; uploads MAX_UPLOAD_BYTES)",
    "422": "Malformed request: `errors` lists each problem",
}


DESCRIPTIONS = {
    400: "Bad request: invalid workflow (`error`, `node_errors` in ComfyUI's shape) or unusable content",
    404: "Not found",
    409: "Conflict with the resource's state",
    413: _GENERIC["413"],
    422: "Malformed request, or no valid workflow could be made",
    502: "A backend (ComfyUI, the LLM) gave an unusable answer",
    503: "A backend (ComfyUI, the LLM) is unreachable (see Retry-After)",
    504: "Timed out waiting",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that may answer these error statuses (bodies: `ErrorBody`)."""
    return {status: {"description": DESCRIPTIONS[status]} for status in statuses}


def document_errors(app: FastAPI) -> None:
    """Make `app.openapi()` describe the error bodies the gateway sends."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = original()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for model in (ErrorBody, FieldError, MalformedRequest):
            body = model.model_json_schema(ref_template=_REF + "{model}")
            body.pop("$defs", None)  # FieldError is a component of its own
            schemas[model.__name__] = body
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for item in doc.get("paths", {}).values():
            for method, op in item.items():
                if isinstance(op, dict) and "responses" in op:
                    _fill(op, takes_body=method in {"post", "put", "patch"})
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def _fill(op: dict[str, Any], *, takes_body: bool) -> None:
    responses: dict[str, Any] = op["responses"]
    if takes_body:
        responses.setdefault("413", {"description": _GENERIC["413"]})
    if takes_body or op.get("parameters"):
        responses.setdefault("422", {"description": _GENERIC["422"]})
    for status, response in responses.items():
        if status[:1] not in {"4", "5"}:
            continue
        content = response.setdefault("content", {})
        own = content.get("application/json", {}).get("schema")
        if own and own.get("$ref") != _REF + "HTTPValidationError":
            continue  # the route documents its own body (e.g. /health's 503 is a HealthResponse)
        if status == "422":
            response["description"] = _GENERIC["422"]
        name = "MalformedRequest" if status == "422" else "ErrorBody"
        content["application/json"] = {"schema": {"$ref": _REF + name}}
