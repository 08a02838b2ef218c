"""Files: outputs streamed from ComfyUI's /view (Range supported), and inputs uploaded to its input folder."""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import mimetypes
from collections.abc import AsyncIterator
from pathlib import PurePosixPath
from typing import Annotated, Literal
from urllib.parse import quote, urlparse

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.auth import Principal, ReadAccess, SubmitAccess
from api.deps import FleetDep, JobsDep, SettingsDep, StoreDep
from api.errors import BadRequest, Conflict, NotFoundError
from api.fleet import Fleet
from api.jobs.service import JobService
from api.jobs.store import JobStore
from api.schemas.system import InputFromJson, InputUploaded
from api.settings import Settings
from api.url_fetch import UrlPolicy, fetch_public

log = logging.getLogger(__name__)

router = APIRouter(tags=["files"])

PASSED_HEADERS = (
    "content-type",
    "content-length",
    "content-range",
    "accept-ranges",
    "content-disposition",
    "last-modified",
    "etag",
)
DOWNLOAD_TIMEOUT = 30.0
# Types a browser would run as a page (script in SVG, HTML, XML): served as downloads, never inline.
ACTIVE_TYPES = ("image/svg+xml", "text/html", "application/xhtml+xml", "text/xml", "application/xml")
ACTIVE_SUFFIXES = (".svg", ".svgz", ".html", ".htm", ".xhtml", ".xht", ".xml", ".xsl", ".js", ".mjs")


def _safe_name(name: str, what: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise BadRequest(f"invalid {what} {name!r}: a plain file name is expected")
    return name


def _safe_subfolder(subfolder: str) -> str:
    parts = PurePosixPath(subfolder).parts
    if subfolder.startswith("/") or ".." in parts or "\\" in subfolder or "\x00" in subfolder:
        raise BadRequest(f"invalid subfolder {subfolder!r}: a relative folder without '..' is expected")
    return subfolder


@router.get(
    "/api/outputs/{type}/{filename}",
    summary="Download an output (streamed from ComfyUI, Range ok)",
    responses={
        200: {"content": {"application/octet-stream": {}}},
        206: {"description": "Partial"},
        400: {"description": "A file name or subfolder ComfyUI refuses"},
        404: {"description": "No such file (or not an output of the caller's jobs)"},
        503: {"description": "ComfyUI unreachable"},
    },
)
async def output_file(
    type: Literal["output", "input", "temp"],
    filename: str,
    request: Request,
    fleet: FleetDep,
    jobs: JobsDep,
    principal: ReadAccess,
    subfolder: Annotated[str, Query()] = "",
) -> StreamingResponse:
    """Once API keys exist, only files recorded as outputs (type `output`) of the caller's jobs (any job's
    for an admin) are served; an open gateway serves any file of the three folders, as it always did."""
    _safe_name(filename, "filename")
    _safe_subfolder(subfolder)
    await _check_output_access(jobs, principal, type, subfolder, filename)
    return await stream_view(fleet, filename, subfolder, type, request.headers.get("range"))


async def stream_view(
    fleet: Fleet, filename: str, subfolder: str, type: str, range: str | None
) -> StreamingResponse:
    """A ComfyUI file streamed through from the backend that has it (Range passed on, its 206/416 kept);
    NotFoundError when no backend has it."""
    stack = contextlib.AsyncExitStack()
    try:
        resp = await _view_on_fleet(stack, fleet, type, subfolder, filename, range)
    except BaseException:
        await stack.aclose()
        raise
    headers = {k: v for k, v in resp.headers.items() if k.lower() in PASSED_HEADERS}
    headers.setdefault("accept-ranges", "bytes")
    media_type = (
        resp.headers.get("content-type") or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    )
    headers.update(download_headers(filename, media_type))

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in resp.aiter_bytes():
                yield chunk
        finally:
            await stack.aclose()

    return StreamingResponse(body(), status_code=resp.status_code, headers=headers, media_type=media_type)


async def _view_on_fleet(
    stack: contextlib.AsyncExitStack,
    fleet: Fleet,
    type: str,
    subfolder: str,
    filename: str,
    range: str | None,
) -> httpx.Response:
    """The file streamed from the backend that has it (a job's outputs stay on the backend that ran it):
    healthy backends first; NotFound everywhere is a 404, no backend answering the last one's error."""
    from comfyui_client import ComfyError, NotFound

    backends = sorted(fleet.backends, key=lambda b: not b.healthy)
    failure: ComfyError | None = None
    for backend in backends:
        try:
            return await stack.enter_async_context(
                backend.client.view(filename, subfolder=subfolder, type=type, range=range)
            )
        except NotFound:
            continue
        except ComfyError as exc:
            if len(backends) == 1:
                raise
            failure = exc
    if failure is not None:
        raise failure
    raise NotFoundError(f"no {type} file {filename!r} in subfolder {subfolder!r}")


async def _check_output_access(
    jobs: JobService, principal: Principal, type: str, subfolder: str, filename: str
) -> None:
    if principal.anonymous:
        return
    missing = NotFoundError(
        f"no output file {filename!r} in subfolder {subfolder!r} among your jobs' outputs"
    )
    if type != "output":
        raise missing  # the input and temp folders are never served to keyed callers
    owners = await jobs.output_owners(type, subfolder, filename)
    if not owners or not (principal.is_admin or principal.name in owners):
        raise missing


def download_headers(filename: str, media_type: str) -> dict[str, str]:
    """`nosniff` always; a download disposition for what a browser would otherwise run as a page."""
    headers = {"x-content-type-options": "nosniff"}
    essence = media_type.split(";")[0].strip().lower()
    if essence in ACTIVE_TYPES or filename.lower().endswith(ACTIVE_SUFFIXES):
        headers["content-disposition"] = f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
    return headers


@router.post(
    "/api/inputs",
    response_model=InputUploaded,
    summary="Upload an input image, video or audio",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "subfolder": {"type": "string"},
                            "overwrite": {"type": "boolean"},
                        },
                    }
                },
                "application/json": {"schema": InputFromJson.model_json_schema()},
            }
        }
    },
    responses={
        400: {"description": "Nothing usable to upload, or a `url` the gateway may not fetch"},
        409: {"description": "`overwrite` asked for a file another key uploaded"},
        413: {"description": "Too large"},
        503: {"description": "ComfyUI unreachable"},
    },
)
async def upload_input(
    request: Request,
    fleet: FleetDep,
    settings: SettingsDep,
    store: StoreDep,
    principal: SubmitAccess,
) -> InputUploaded:
    """Multipart (`file`, `subfolder`, `overwrite`) or JSON (`url` or `base64`, `filename`...). Returns `ref`,
    the value a loader node takes (e.g. LoadImage `image`). An existing file is kept (the upload gets a new
    name, or reuses it when identical) unless `overwrite` is true and the file is the caller's."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        content, filename, subfolder, overwrite, mime = await _from_form(request)
    elif ctype.startswith("application/json"):
        try:
            spec = InputFromJson.model_validate_json(await request.body())
        except ValueError as exc:
            raise BadRequest(f"malformed JSON body: {exc}") from exc
        content, filename, mime = await _from_json(spec, settings)
        subfolder, overwrite = spec.subfolder, spec.overwrite
    else:
        raise BadRequest("send multipart/form-data with a `file` field, or JSON with `url` or `base64`")
    if not content:
        raise BadRequest("the uploaded file is empty")
    _safe_name(filename, "filename")
    _safe_subfolder(subfolder)
    overwrite = await _may_overwrite(store, principal, subfolder, filename) if overwrite else False
    uploaded = await fleet.upload(content, filename, subfolder=subfolder, overwrite=overwrite, mime=mime)
    await store.record_upload(uploaded.type, uploaded.subfolder, uploaded.name, principal.owner)
    return InputUploaded(
        name=uploaded.name, subfolder=uploaded.subfolder, type=uploaded.type, ref=uploaded.ref
    )


async def _may_overwrite(store: JobStore, principal: Principal, subfolder: str, filename: str) -> bool:
    """Overwrite only a file the caller uploaded (an admin: any); another key's file is a 409, and a file
    the gateway has no record of is kept (the upload then takes a new name)."""
    if principal.is_admin:
        return True
    recorded, owner = await store.upload_owner("input", subfolder, filename)
    if recorded and owner != principal.owner:
        raise Conflict(f"{filename!r} was uploaded by another key: upload without `overwrite`")
    return recorded


async def _from_form(request: Request) -> tuple[bytes, str, str, bool, str | None]:
    form = await request.form()
    upload = form.get("file") or form.get("image")
    if upload is None or isinstance(upload, str):
        raise BadRequest("multipart upload needs a `file` field holding the file")
    content = await upload.read()
    subfolder = form.get("subfolder") or ""
    overwrite = str(form.get("overwrite") or "false").lower() in ("true", "1", "yes")
    return content, upload.filename or "upload", str(subfolder), overwrite, upload.content_type


async def _from_json(spec: InputFromJson, settings: Settings) -> tuple[bytes, str, str | None]:
    if bool(spec.url) == bool(spec.base64):
        raise BadRequest("give exactly one of `url` or `base64`")
    if spec.base64:
        data = spec.base64
        mime = None
        if data.startswith("data:"):
            header, _, data = data.partition(",")
            mime = header[5:].split(";")[0] or None
        try:
            content = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(f"`base64` is not valid base64: {exc}") from exc
        if not spec.filename:
            raise BadRequest("`filename` is required with `base64` (e.g. first_frame.png)")
        return content, spec.filename, mime
    assert spec.url is not None
    parsed = urlparse(spec.url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise BadRequest(f"`url` must be an http(s) URL, got {spec.url!r}")
    if not settings.inputs_allow_urls:
        raise BadRequest(
            "this gateway does not download inputs by URL: upload the file (multipart `file`) or send it "
            "as `base64` with a `filename`"
        )
    filename = spec.filename or PurePosixPath(parsed.path).name
    if not filename:
        raise BadRequest("cannot tell a file name from the URL: give `filename`")
    content, _, _ = await fetch_public(
        spec.url, url_policy(settings), max_bytes=settings.max_upload_bytes, timeout=DOWNLOAD_TIMEOUT
    )
    return content, filename, mimetypes.guess_type(filename)[0]


def url_policy(settings: Settings) -> UrlPolicy:
    """The settings' allowlist; the backends' own addresses are refused unless listed (their API is not for
    users)."""
    origins = []
    for spec in settings.backends():
        backend = httpx.URL(spec.url)
        origins.append((backend.host, backend.port or (443 if backend.scheme == "https" else 80)))
    return UrlPolicy.from_allowlist(settings.inputs_url_allowlist, blocked_origins=origins)
