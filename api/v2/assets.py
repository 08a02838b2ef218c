"""Comfy API v2 assets: upload (multipart, blake3 dedup), mint from a hash, probe by hash, read, delete,
download (Range). Uploads are served from the gateway's own blob folder; job outputs from ComfyUI's.

Not served from the contract: `expires_in` (the gateway keeps assets until deleted; the contract lets an
implementation without configurable retention ignore it), `tags` (accepted, not stored), and the
`Idempotency-Key` of uploads (accepted; a repeated upload is a dedup hit, never a second blob).
"""

from __future__ import annotations

import re
import uuid
from time import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from api.auth import ReadAccess, SubmitAccess
from api.deps import FleetDep
from api.routes.files import download_headers, stream_view
from api.v2.deps import AssetsDep, BaseUrlDep, check_asset
from api.v2.errors import AssetInUse, BlobNotFound, HashMismatch, InvalidRequest
from api.v2.store import AssetRow, AssetStore, hash_of, parse_hash
from api.v2.views import asset_body
from comfyui_client import BadRequest as ComfyBadRequest
from comfyui_client import OutputRef

router = APIRouter(prefix="/api/v2/assets", tags=["comfy-api-v2"])

MIN_EXPIRES, MAX_EXPIRES = 60, 604800
MAX_PATH = 4096
# Ranges Starlette and ComfyUI both read; anything else is ignored (a server may), never a 400.
_MIME = re.compile(r"[A-Za-z0-9][\w.+-]{0,126}/[A-Za-z0-9][\w.+-]{0,126}( ?;[ -~]{0,200})?")
_RANGE = re.compile(r"bytes=\d{0,18}-\d{0,18}(, ?\d{0,18}-\d{0,18}){0,9}")


class FromHash(BaseModel):
    """Bounded by the body size limit only: the contract sets no lengths, so none is refused here (a hash of
    the wrong shape simply finds no blob)."""

    hash: str
    file_path: str | None = None
    tags: list[str] | None = None
    expires_in: int | None = Field(None, ge=MIN_EXPIRES, le=MAX_EXPIRES)


def _text(form: Any, name: str, *, required: bool = False, limit: int = 1024) -> str | None:
    value = form.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"multipart field {name!r} is required")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidRequest(f"multipart field {name!r} must be text of at most {limit} characters")
    return value


def _expires_in(raw: str | None) -> None:
    if raw is None:
        return
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidRequest("expires_in must be an integer number of seconds") from exc
    if not MIN_EXPIRES <= value <= MAX_EXPIRES:
        raise InvalidRequest(f"expires_in must be between {MIN_EXPIRES} and {MAX_EXPIRES} seconds")


async def _mint(
    assets: AssetStore, digest: str, size: int, owner: str | None, file_path: str | None, content_type: str
) -> AssetRow:
    row = AssetRow(
        id=str(uuid.uuid4()),
        hash=digest,
        owner=owner,
        file_path=file_path,
        content_type=content_type,
        size_bytes=size,
        created_at=time(),
    )
    return await assets.add(row)


@router.post("")
async def upload_asset(
    request: Request, assets: AssetsDep, base_url: BaseUrlDep, principal: SubmitAccess
) -> JSONResponse:
    """201 for new bytes, 200 when they dedup onto a blob the gateway already had."""
    form = await request.form(max_files=1, max_fields=80)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidRequest("multipart field 'file' (the bytes) is required")
        content_type = _text(form, "content_type", required=True, limit=255) or ""
        if not _MIME.fullmatch(content_type):
            raise InvalidRequest(
                f"content_type must be a media type such as image/png, got {content_type[:60]!r}"
            )
        file_path = _text(form, "file_path", required=True, limit=MAX_PATH)
        expected = _text(form, "expected_hash", limit=100)
        _expires_in(_text(form, "expires_in", limit=20))
        data = await upload.read()
    finally:
        await form.close()
    if expected is not None:
        actual = hash_of(data)
        if parse_hash(expected) != parse_hash(actual):
            raise HashMismatch(
                f"expected_hash {expected[:80]!r} does not match the bytes received ({actual})"
            )
    digest, new = await assets.put_blob(data)
    row = await _mint(assets, digest, len(data), principal.owner, file_path, content_type)
    return JSONResponse(asset_body(row, base_url, created_new=new), status_code=201 if new else 200)


@router.post("/from-hash")
async def asset_from_hash(
    body: FromHash, assets: AssetsDep, base_url: BaseUrlDep, principal: SubmitAccess
) -> JSONResponse:
    """Mint over bytes the caller uploaded before (an admin: anyone did); 200 when that very record exists."""
    rows = await _mintable(assets, body.hash, principal.owner, principal.is_admin)
    if not rows:
        raise BlobNotFound("no bytes with this hash you may use: upload them (POST /api/v2/assets)")
    same = [r for r in rows if r.owner == principal.owner and r.file_path == body.file_path]
    if same:
        return JSONResponse(asset_body(same[0], base_url, created_new=False), status_code=200)
    first = rows[0]
    row = await _mint(
        assets, first.hash or body.hash, first.size_bytes, principal.owner, body.file_path, first.content_type
    )
    return JSONResponse(asset_body(row, base_url, created_new=False), status_code=201)


@router.head("/by-hash/{hash}")
async def asset_by_hash(hash: str, assets: AssetsDep, principal: ReadAccess) -> Response:
    found = await _mintable(assets, hash, principal.owner, principal.is_admin)
    return Response(status_code=200 if found else 404)


async def _mintable(assets: AssetStore, digest: str, owner: str | None, admin: bool) -> list[AssetRow]:
    if parse_hash(digest) is None or not assets.has_blob(digest):
        return []
    canonical = "blake3:" + (parse_hash(digest) or "")
    return await assets.with_hash(canonical, owner, any_owner=admin)


@router.get("/{asset_id}")
async def get_asset(
    asset_id: str, assets: AssetsDep, base_url: BaseUrlDep, principal: ReadAccess
) -> dict[str, Any]:
    row = check_asset(await assets.get(asset_id) if len(asset_id) <= 64 else None, principal, asset_id)
    return asset_body(row, base_url)


@router.delete("/{asset_id}", status_code=204)
async def delete_asset(asset_id: str, assets: AssetsDep, principal: SubmitAccess) -> Response:
    """A job's output stays while its job is kept (409 `asset_in_use`); an upload's bytes go with its last
    record."""
    row = check_asset(await assets.get(asset_id) if len(asset_id) <= 64 else None, principal, asset_id)
    if row.job_id is not None:
        raise AssetInUse(f"asset {asset_id!r} cannot be deleted now")
    await assets.delete(asset_id)
    return Response(status_code=204)


@router.get("/{asset_id}/content", response_model=None)
async def asset_content(
    asset_id: str, request: Request, assets: AssetsDep, fleet: FleetDep, principal: ReadAccess
) -> Response:
    row = check_asset(await assets.get(asset_id) if len(asset_id) <= 64 else None, principal, asset_id)
    wanted = request.headers.get("range")
    usable = wanted if wanted is not None and _RANGE.fullmatch(wanted) else None
    if row.output is not None:
        ref = OutputRef.from_dict(row.output)
        try:
            return await stream_view(fleet, ref.filename, ref.subfolder, ref.type, usable)
        except ComfyBadRequest as exc:
            if exc.status_code != 416:
                raise
            return Response(status_code=416, headers={"Content-Range": f"bytes */{row.size_bytes}"})
    path = assets.blob_path(row.hash or "")
    name = (row.file_path or row.id).rsplit("/", 1)[-1]
    headers = download_headers(name, row.content_type)
    if usable is None and wanted is not None:
        # Starlette answers a Range it cannot parse with 400; the contract lets the server ignore it.
        request.scope["headers"] = [(k, v) for k, v in request.scope["headers"] if k != b"range"]
    return FileResponse(path, media_type=row.content_type, headers=headers)
