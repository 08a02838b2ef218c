"""Official templates, converted from UI format, are accepted by the real ComfyUI (placeholder model files).

Every template that converts (API-node ones too: they are only queued, never left to run) is converted with
the live catalog; the model and input files each names are created empty under the backend's base directory;
each graph must be queued with HTTP 200 and no node_errors. Placeholders make the jobs fail at the first model
load, and each job is deleted or interrupted by id at once, so the machine stays idle.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from node_catalog import Catalog, ConversionError, validate
from node_catalog.files import required_files
from node_catalog.ui_export import is_ui_workflow, ui_to_api

pytestmark = pytest.mark.integration

TEMPLATE_PACKAGES = (
    "comfyui_workflow_templates_media_api",
    "comfyui_workflow_templates_media_image",
    "comfyui_workflow_templates_media_other",
    "comfyui_workflow_templates_media_video",
)


def iter_templates() -> Iterator[tuple[str, dict[str, Any]]]:
    for pkg in TEMPLATE_PACKAGES:
        folder = resources.files(pkg).joinpath("templates")
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if entry.name.endswith(".json") and not entry.name.startswith("index"):
                data = json.loads(entry.read_text(encoding="utf-8"))
                if is_ui_workflow(data):
                    yield entry.name, data


def _convertible(catalog: Catalog) -> list[tuple[str, dict[str, Any]]]:
    chosen = []
    for name, ui in iter_templates():
        try:
            api = ui_to_api(ui, catalog)
        except ConversionError:
            continue
        chosen.append((name, api))
    return chosen


def _placeholders(base_dir: Path, used: dict[str, list[str]]) -> None:
    for folder, names in used.items():
        root = base_dir / "input" if folder == "input" else base_dir / "models" / folder
        for name in names:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)


def test_converted_templates_are_accepted(comfyui: Any) -> None:
    with httpx.Client(base_url=comfyui.url, timeout=60.0) as http:
        catalog = Catalog.from_object_info(http.get("/object_info").json(), source="live")
        sample = _convertible(catalog)
        assert len(sample) >= 170 and any("hunyuan_video" in name for name, _ in sample)
        for _, api in sample:
            _placeholders(comfyui.base_dir, required_files(api, catalog))
        submitted: list[str] = []
        refused: dict[str, Any] = {}
        for name, api in sample:
            used = required_files(api, catalog)
            assert validate(api, catalog, models=used).ok, name
            pid = str(uuid.uuid4())
            resp = http.post("/prompt", json={"prompt": api, "prompt_id": pid})
            if resp.status_code != 200 or resp.json().get("node_errors"):
                refused[name] = resp.json()
                continue
            submitted.append(pid)
            http.post("/queue", json={"delete": [pid]})
            http.post("/interrupt", json={"prompt_id": pid})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            queue = http.get("/queue").json()
            busy = {i[1] for i in queue["queue_running"] + queue["queue_pending"]} & set(submitted)
            if not busy:
                break
            for pid in busy:
                http.post("/interrupt", json={"prompt_id": pid})
            time.sleep(0.25)
    print(f"templates accepted by ComfyUI: {len(submitted)}/{len(sample)}")
    assert refused == {}
    assert len(submitted) == len(sample)
