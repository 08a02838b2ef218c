"""Comfy API v2 assets: records (table `v2_assets`) over content-addressed blobs on disk.

The contract names blobs by their blake3 hash (`blake3:<hex>`). An uploaded asset's bytes live once under
`assets_dir/<2 hex>/<hex>` however many records point at them; a job output is a record too (its bytes stay
in ComfyUI's output folder, `output` holds the address), with an id derived from the job and the file so
every read of the job names the same asset.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from pathlib import Path
from time import time
from typing import Any

from blake3 import blake3
from sqlalchemy import JSON, BigInteger, Float, String, Text, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from api.jobs.store import Database
from comfyui_client import OutputRef

HASH_PREFIX = "blake3:"
# Output asset ids: uuid5 over the job and the file, so they are stable without being stored first.
OUTPUT_NAMESPACE = uuid.UUID("6f1c1b8e-4a8e-4d3b-9a57-2f0c6f7e9d10")


class Base(DeclarativeBase):
    pass


class AssetRow(Base):
    __tablename__ = "v2_assets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    hash: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    file_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    content_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Outputs: the job that made the file and where ComfyUI keeps it (OutputRef dict); None for uploads.
    job_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    output: Mapped[Any] = mapped_column(JSON, nullable=True)


def hash_of(data: bytes) -> str:
    return HASH_PREFIX + blake3(data).hexdigest()


def parse_hash(value: str) -> str | None:
    """The hex digest of a `blake3:<64 hex>` string; None for anything else (never a path)."""
    if not value.startswith(HASH_PREFIX):
        return None
    hexdigest = value[len(HASH_PREFIX) :].lower()
    if len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
        return None
    return hexdigest


def output_asset_id(job_id: str, ref: OutputRef) -> str:
    key = f"{job_id}\x00{ref.node_id}\x00{ref.type}\x00{ref.subfolder}\x00{ref.filename}"
    return str(uuid.uuid5(OUTPUT_NAMESPACE, key))


def default_assets_dir(database_url: str) -> Path:
    """Beside a SQLite job database (`jobs.db` -> `jobs_assets/`), else ./comfy_gateway_assets."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        db = Path(str(parsed.database))
        return db.with_name(f"{db.stem}_assets")
    return Path("./comfy_gateway_assets")


class AssetStore(Database):
    """Asset records in the job database and their bytes under `blob_dir`."""

    def __init__(self, url: str, blob_dir: Path) -> None:
        super().__init__(url)
        self.blob_dir = blob_dir

    # -- blobs -----------------------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        hexdigest = parse_hash(digest)
        if hexdigest is None:
            raise ValueError(f"not a blake3 hash: {digest!r}")
        return self.blob_dir / hexdigest[:2] / hexdigest

    def has_blob(self, digest: str) -> bool:
        return parse_hash(digest) is not None and self.blob_path(digest).is_file()

    async def put_blob(self, data: bytes) -> tuple[str, bool]:
        """Store the bytes under their hash (off the event loop); (hash, True when they were new)."""
        return await asyncio.to_thread(self._put_blob, data)

    def _put_blob(self, data: bytes) -> tuple[str, bool]:
        digest = hash_of(data)
        path = self.blob_path(digest)
        if path.is_file():
            return digest, False
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)  # atomic: a concurrent reader sees all the bytes or no file
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return digest, True

    # -- records ---------------------------------------------------------------------------------------
    async def add(self, row: AssetRow) -> AssetRow:
        async with self._session() as session, session.begin():
            session.add(row)
        return row

    async def get(self, asset_id: str) -> AssetRow | None:
        async with self._session() as session:
            row: AssetRow | None = await session.get(AssetRow, asset_id)
            return row

    async def with_hash(self, digest: str, owner: str | None, *, any_owner: bool) -> list[AssetRow]:
        """Upload records over these bytes the caller may mint from (its own; an admin: anyone's)."""
        async with self._session() as session:
            query = select(AssetRow).where(AssetRow.hash == digest, AssetRow.job_id.is_(None))
            if not any_owner:
                query = query.where(AssetRow.owner == owner)
            return list(await session.scalars(query.order_by(AssetRow.created_at)))

    async def named(self, names: set[str], owner: str | None) -> dict[str, AssetRow]:
        """The owner's uploads by `file_path` (the newest of a name wins)."""
        if not names:
            return {}
        async with self._session() as session:
            query = select(AssetRow).where(
                AssetRow.file_path.in_(sorted(names)),
                AssetRow.job_id.is_(None),
                AssetRow.owner.is_(None) if owner is None else AssetRow.owner == owner,
            )
            rows = await session.scalars(query.order_by(AssetRow.created_at))
            return {row.file_path or "": row for row in rows}

    async def delete(self, asset_id: str) -> None:
        """Remove the record; the blob goes too once no other record points at it."""
        async with self._session() as session, session.begin():
            row = await session.get(AssetRow, asset_id)
            if row is None:
                return
            digest = row.hash
            await session.delete(row)
            await session.flush()
            left = 0
            if digest is not None:
                left = await session.scalar(select(func.count()).where(AssetRow.hash == digest)) or 0
        if digest is not None and not left and parse_hash(digest) is not None:
            with contextlib.suppress(FileNotFoundError):
                self.blob_path(digest).unlink()

    async def register_output(
        self, job_id: str, ref: OutputRef, owner: str | None, *, content_type: str, size_bytes: int
    ) -> AssetRow:
        """Record an output (idempotent: a concurrent reader may have recorded it first)."""
        asset_id = output_asset_id(job_id, ref)
        row = AssetRow(
            id=asset_id,
            hash=None,
            owner=owner,
            file_path=ref.filename,
            content_type=content_type,
            size_bytes=size_bytes,
            created_at=time(),
            job_id=job_id,
            output=ref.to_dict(),
        )
        try:
            return await self.add(row)
        except IntegrityError:
            existing = await self.get(asset_id)
            if existing is None:
                raise
            return existing
