"""A v2 job body -> the API graph the gateway validates and queues.

Contract rules first (an editor export is `workflow_format_ui`; `core/ASSET` references must name the
caller's assets, else `missing_asset`), then the gateway's own reading (size limits, catalog validation in
`JobService.submit`). An asset reference, or an input naming one of the caller's uploads by its `file_path`
(submit by name, as Comfy's own surfaces allow), becomes the file name ComfyUI's loaders take: its bytes are
uploaded to ComfyUI's input folder as `v2_<hash prefix>_<name>` (its root: loader lists and the catalog's
file checks read no subfolders).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import PurePosixPath
from typing import Any

from api.auth import Principal
from api.auth.deps import visible
from api.fleet import Fleet
from api.v2.errors import MissingAsset, WorkflowFormatUi
from api.v2.store import AssetRow, AssetStore, parse_hash

ASSET_TYPE = "core/ASSET"
NAME_PREFIX = "v2_"
MAX_NAME = 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def check_format(workflow: dict[str, Any]) -> None:
    from node_catalog.ui_export import is_ui_workflow

    if is_ui_workflow(workflow):
        raise WorkflowFormatUi(
            "this is an editor (UI-format) export with nodes/links; v2 takes the API-format graph: in "
            "ComfyUI use 'Export (API)', or submit the export to POST /api/workflow/submit, which converts it"
        )


def asset_refs(workflow: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(node id, input name, value) of every input holding a `core/ASSET` object (inputs are one level deep:
    nothing here recurses into what the caller sent)."""
    found = []
    for node_id, node in workflow.items():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        for name, value in (inputs or {}).items() if isinstance(inputs, dict) else ():
            if isinstance(value, dict) and value.get("__type") == ASSET_TYPE:
                found.append((str(node_id), str(name), value))
    return found


def name_refs(workflow: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(node id, input name, value) of every input whose string value could name an uploaded file."""
    found = []
    for node_id, node in workflow.items():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        for name, value in (inputs or {}).items() if isinstance(inputs, dict) else ():
            if isinstance(value, str) and "." in value and len(value) <= MAX_NAME and "\n" not in value:
                found.append((str(node_id), str(name), value))
    return found


async def substitute_assets(
    workflow: dict[str, Any], principal: Principal, assets: AssetStore, fleet: Fleet
) -> dict[str, Any]:
    """The graph with each asset reference, and each input naming one of the caller's uploads by its
    `file_path`, replaced by the name of those bytes in ComfyUI's input folder (content-addressed, so two
    callers' `photo.png` never overwrite each other)."""
    chosen: list[tuple[str, str, AssetRow]] = []
    for node_id, name, value in asset_refs(workflow):
        chosen.append((node_id, name, await _owned(value, principal, assets, node_id, name)))
    named = name_refs(workflow)
    uploads = await assets.named({value for _, _, value in named}, principal.owner)
    chosen += [(node_id, name, uploads[value]) for node_id, name, value in named if value in uploads]
    if not chosen:
        return workflow
    graph = dict(workflow)
    sent: dict[str, str] = {}
    for node_id, name, row in chosen:
        if row.id not in sent:
            sent[row.id] = await _upload(row, assets, fleet)
        graph[node_id] = {**graph[node_id], "inputs": {**graph[node_id]["inputs"], name: sent[row.id]}}
    return graph


async def _upload(row: AssetRow, assets: AssetStore, fleet: Fleet) -> str:
    """Sent at every submit, to every healthy backend (overwrite, same bytes under the same name): a
    restarted ComfyUI or whichever backend runs the job has the file."""
    digest = row.hash or ""
    stem = _UNSAFE.sub("_", PurePosixPath(row.file_path or "asset").name).strip("._") or "asset"
    filename = f"{NAME_PREFIX}{(parse_hash(digest) or '')[:16]}_{stem}"
    data = await asyncio.to_thread(assets.blob_path(digest).read_bytes)
    uploaded = await fleet.upload(data, filename, overwrite=True, mime=row.content_type)
    return uploaded.ref


async def _owned(
    value: dict[str, Any], principal: Principal, assets: AssetStore, node: str, name: str
) -> AssetRow:
    info = value.get("info")
    asset_id = info.get("id") if isinstance(info, dict) else None
    where = f"node {node} input {name!r}"
    if not isinstance(asset_id, str) or not asset_id:
        raise MissingAsset(f"{where}: a core/ASSET reference needs info.id (the asset's id)")
    row = await assets.get(asset_id) if len(asset_id) <= 64 else None
    if row is None or not visible(principal, row.owner):
        raise MissingAsset(f"{where}: no asset {asset_id!r} among yours: upload it (POST /api/v2/assets)")
    if row.job_id is not None or row.hash is None or not assets.has_blob(row.hash):
        raise MissingAsset(f"{where}: asset {asset_id!r} is a job output; upload it as an input first")
    return row
