"""The fleet's API-level catalog (api.fleet.catalog): a node class or model file is available when some
healthy backend has it. Conversion of UI exports, validation on its own (batch) and generation plans use the
union; a submission then goes to the backend that has everything, whose own catalog validates it. A fleet
of one keeps its backend's own provider.

Backends are the fakes of test_fleet (real ComfyClients over a fake ComfyUI, a real SQLite store) whose
catalogs differ: one lacks a node class, or each has its own checkpoint files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from api.errors import InvalidWorkflow
from api.fleet.catalog import FleetCatalog, FleetModels, merge_files
from api.jobs import JobService
from api.settings import Settings
from api.workflow_intake import api_graph
from node_catalog import Catalog
from tests.unit.api.test_fleet import Make, Rig, make, without

__all__ = ["make"]  # the fixture, shared with test_fleet

OBJECT_INFO = Path(__file__).parents[3] / "node_catalog/data/object_info.json"

# EmptyImage -> SaveImage as the editor exports it (SaveImage is the class only one backend has, below).
UI_EXPORT: dict[str, Any] = {
    "last_node_id": 2,
    "last_link_id": 1,
    "version": 0.4,
    "links": [[1, 1, 0, 2, 0, "IMAGE"]],
    "nodes": [
        {
            "id": 1,
            "type": "EmptyImage",
            "inputs": [],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
            "widgets_values": [64, 64, 1, 0],
            "mode": 0,
        },
        {
            "id": 2,
            "type": "SaveImage",
            "inputs": [{"name": "images", "type": "IMAGE", "link": 1}],
            "outputs": [],
            "widgets_values": ["t"],
            "mode": 0,
        },
    ],
}


def with_checkpoints(*files: str) -> Catalog:
    """A live backend's catalog whose checkpoints folder holds `files`."""
    data = json.loads(OBJECT_INFO.read_text())
    data["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] = list(files)
    return Catalog.from_object_info(data, source="live")


def checkpoint_graph(name: str) -> dict[str, Any]:
    """A graph that loads one checkpoint (its VAE decodes an empty latent) and saves the image."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": name}},
        "2": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {"class_type": "VAEDecode", "inputs": {"samples": ["2", 0], "vae": ["1", 2]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "t"}},
    }


def api_service(rig: Rig) -> JobService:
    """The JobService as api.app builds it for a fleet: its own catalog is the fleet's."""
    primary = rig.fleet.primary
    return JobService(
        primary.client,
        primary.tracker,
        rig.fleet.catalog.current,
        rig.fleet.catalog.refresh_now,
        placement=rig.fleet,
    )


# -- the union ---------------------------------------------------------------------------------------------
def test_the_union_has_every_class_and_every_backends_files() -> None:
    a = with_checkpoints("a.safetensors", "both.safetensors")
    b = with_checkpoints("both.safetensors", "b.ckpt")
    a = Catalog({s.name: s for s in a if s.name != "SaveImage"}, source="live")
    union = Catalog.union([a, b])
    assert "SaveImage" in union and len(union) == len(b) and union.source == "live"
    options = union["CheckpointLoaderSimple"].inputs["ckpt_name"].options
    assert options == ("a.safetensors", "both.safetensors", "b.ckpt")  # the first backend's order, then new
    assert union["EmptyImage"] is a["EmptyImage"]  # a class without file lists is the first one's spec
    assert Catalog.union([a]) is a  # one backend: its catalog, untouched
    assert merge_files([{"x": ["1", "2"]}, {"x": ["2", "3"], "y": []}]) == {"x": ["1", "2", "3"], "y": []}


async def test_the_fleet_catalog_is_the_healthy_backends_union(make: Make) -> None:
    rig = await make(catalogs=(without("SaveImage"), None))
    catalog = rig.fleet.catalog
    assert isinstance(catalog, FleetCatalog)
    union = catalog.current()
    assert "SaveImage" in union and catalog.current() is union  # merged once while the parts stay
    assert await rig.fleet.get() is union  # what generation plans with (pipeline.CatalogSource)
    rig.wires[1].down = True  # the backend with SaveImage drains: the gateway no longer offers it
    await rig.fleet.check_all()
    await rig.fleet.check_all()
    assert "SaveImage" not in catalog.current()
    rig.wires[0].down = True  # none healthy: the primary's catalog
    await rig.fleet.check_all()
    await rig.fleet.check_all()
    assert catalog.current() is rig.fleet.primary.catalogs.current()


async def test_a_fleet_of_one_keeps_its_backends_own_provider(make: Make) -> None:
    rig = await make(weights=(1.0,))
    assert rig.fleet.catalog is rig.fleet.primary.catalogs
    assert await rig.fleet.get() is rig.fleet.primary.catalogs.current()


# -- what the API accepts ----------------------------------------------------------------------------------
async def test_a_ui_export_only_the_second_backend_runs_converts_validates_and_runs_there(make: Make) -> None:
    rig = await make(catalogs=(without("SaveImage"), None))
    settings = Settings()
    with pytest.raises(InvalidWorkflow):  # the primary's catalog alone (before: the API's) cannot read it
        await api_graph(UI_EXPORT, None, rig.fleet.primary.catalogs.current(), settings)
    graph = await api_graph(UI_EXPORT, None, rig.fleet.catalog.current(), settings)
    assert graph["2"]["class_type"] == "SaveImage"
    service = api_service(rig)
    await service.validate(graph)  # a batch checks each workflow this way before submitting any
    jobs = [await service.submit(graph) for _ in range(2)]
    assert {j.backend for j in jobs} == {"b1"}  # placement sends it where it can run
    assert len(rig.wires[1].comfy.pending) == 2 and not rig.wires[0].comfy.pending


async def test_a_model_file_on_one_backend_only_is_accepted_and_placed_there(make: Make) -> None:
    rig = await make(catalogs=(with_checkpoints("a.safetensors"), with_checkpoints("b.safetensors")))
    service = api_service(rig)
    for name, backend in (("b.safetensors", "b1"), ("a.safetensors", "b0")):
        graph = checkpoint_graph(name)
        await service.validate(graph)
        assert (await service.submit(graph)).backend == backend
    with pytest.raises(InvalidWorkflow) as refused:  # on no backend: refused, naming the file
        await service.validate(checkpoint_graph("nowhere.safetensors"))
    assert "nowhere.safetensors" in json.dumps(refused.value.body())


async def test_generation_plans_list_every_healthy_backends_model_files(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comfyui_client import NotFound

    rig = await make()
    listings = [
        {"checkpoints": ["a.safetensors"], "loras": ["l.safetensors"]},
        {"checkpoints": ["b.safetensors", "a.safetensors"]},
    ]
    for backend, folders in zip(rig.fleet.backends, listings, strict=True):

        async def model_folders(folders: dict[str, list[str]] = folders) -> list[str]:
            return list(folders)

        async def models(folder: str, folders: dict[str, list[str]] = folders) -> list[str]:
            if folder not in folders:
                raise NotFound(f"no folder {folder}")
            return folders[folder]

        monkeypatch.setattr(backend.client, "model_folders", model_folders)
        monkeypatch.setattr(backend.client, "models", models)
    catalog = rig.fleet.catalog
    assert isinstance(catalog, FleetCatalog)
    models_ = FleetModels(catalog)
    assert await models_.model_folders() == ["checkpoints", "loras"]
    assert await models_.models("checkpoints") == ["a.safetensors", "b.safetensors"]
    assert await models_.models("loras") == ["l.safetensors"]  # b1 has no such folder: left out
