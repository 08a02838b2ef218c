"""UI-format (editor export) -> API format, on the HunyuanVideo template, hand-made cases and every official
template of comfyui-workflow-templates 0.7.25."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest

from node_catalog import Catalog, ConversionError, validate
from node_catalog.files import required_files
from node_catalog.ui_export import is_ui_workflow, ui_to_api
from tests.support import load_sample

TEMPLATE_PACKAGES = (
    "comfyui_workflow_templates_media_api",
    "comfyui_workflow_templates_media_image",
    "comfyui_workflow_templates_media_other",
    "comfyui_workflow_templates_media_video",
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.bundled()


def _strip(wf: dict[str, Any]) -> dict[str, Any]:
    return {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in wf.items()}


def test_hunyuan_template_equals_official_api_form(catalog: Catalog) -> None:
    ui = load_sample("hunyuan_video_text_to_video.template_ui.json")
    assert is_ui_workflow(ui) and not is_ui_workflow(load_sample("09_hunyuan_t2v_official.prompt.json"))
    api = ui_to_api(ui, catalog)
    assert _strip(api) == _strip(load_sample("09_hunyuan_t2v_official.prompt.json"))
    assert "8" not in api  # the muted VAEDecode
    assert api["44"]["_meta"]["title"] == "CLIP Text Encode (Positive Prompt)"  # node titles are kept


def _node(
    nid: int,
    type_: str,
    *,
    inputs: list[dict[str, Any]] | None = None,
    outputs: int = 1,
    widgets: Any = None,
    mode: int = 0,
    out_type: str = "IMAGE",
) -> dict[str, Any]:
    return {
        "id": nid,
        "type": type_,
        "mode": mode,
        "inputs": inputs or [],
        "outputs": [{"name": out_type, "type": out_type, "links": []} for _ in range(outputs)],
        "widgets_values": widgets if widgets is not None else [],
    }


def _ui(nodes: list[dict[str, Any]], links: list[list[Any]], **extra: Any) -> dict[str, Any]:
    return {"nodes": nodes, "links": links, "version": 0.4, **extra}


def test_reroute_primitive_bypass_and_mute(catalog: Catalog) -> None:
    ui = _ui(
        [
            _node(1, "EmptyImage", widgets=[64, 32, 1, 0]),
            _node(2, "Reroute", inputs=[{"name": "", "type": "*", "link": 1}]),
            _node(3, "ImageInvert", inputs=[{"name": "image", "type": "IMAGE", "link": 2}], mode=4),
            _node(
                4,
                "SaveImage",
                inputs=[
                    {"name": "images", "type": "IMAGE", "link": 3},
                    {
                        "name": "filename_prefix",
                        "type": "STRING",
                        "link": 4,
                        "widget": {"name": "filename_prefix"},
                    },
                ],
                widgets=["ignored"],
            ),
            _node(5, "PrimitiveNode", widgets=["from-primitive", "fixed"], out_type="STRING"),
            _node(6, "ImageInvert", inputs=[{"name": "image", "type": "IMAGE", "link": 5}], mode=2),
            _node(7, "Note", widgets=["a note"]),
        ],
        [
            [1, 1, 0, 2, 0, "IMAGE"],
            [2, 2, 0, 3, 0, "IMAGE"],
            [3, 3, 0, 4, 0, "IMAGE"],
            [4, 5, 0, 4, 1, "STRING"],
            [5, 1, 0, 6, 0, "IMAGE"],
        ],
    )
    api = ui_to_api(ui, catalog)
    assert _strip(api) == {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 32, "batch_size": 1, "color": 0}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "from-primitive"}},
    }


def test_seed_control_value_and_upload_widget_are_skipped(catalog: Catalog) -> None:
    ks = _node(1, "KSampler", widgets=[42, "randomize", 20, 7.5, "euler", "normal", 1.0], out_type="LATENT")
    load = _node(2, "LoadImage", widgets=["cat.png", "image"], outputs=2)
    api = ui_to_api(_ui([ks, load], []), catalog)
    assert api["1"]["inputs"] == {
        "seed": 42,
        "steps": 20,
        "cfg": 7.5,
        "sampler_name": "euler",
        "scheduler": "normal",
        "denoise": 1.0,
    }
    assert api["2"]["inputs"] == {"image": "cat.png"}
    old = _node(3, "KSampler", widgets=[42, 20, 7.5, "euler", "normal", 1.0], out_type="LATENT")
    assert (
        ui_to_api(_ui([old], []), catalog)["3"]["inputs"]["steps"] == 20
    )  # exports without the control value
    as_dict = _node(4, "EmptyImage", widgets={"width": 8, "height": 8, "batch_size": 1, "color": 0})
    assert ui_to_api(_ui([as_dict], []), catalog)["4"]["inputs"]["width"] == 8


def test_subgraph_is_expanded(catalog: Catalog) -> None:
    sub_id = "6b0ed7ac-0000-4000-8000-000000000001"
    definition = {
        "id": sub_id,
        "name": "invert twice",
        "inputs": [
            {"name": "image", "type": "IMAGE", "linkIds": [10]},
            {"name": "prefix", "type": "STRING", "linkIds": [12]},
        ],
        "outputs": [{"name": "IMAGE", "type": "IMAGE", "linkIds": [11]}],
        "nodes": [
            _node(1, "ImageInvert", inputs=[{"name": "image", "type": "IMAGE", "link": 10}]),
            _node(2, "ImageInvert", inputs=[{"name": "image", "type": "IMAGE", "link": 13}]),
            _node(
                3,
                "SaveImage",
                inputs=[
                    {"name": "images", "type": "IMAGE", "link": 14},
                    {
                        "name": "filename_prefix",
                        "type": "STRING",
                        "link": 12,
                        "widget": {"name": "filename_prefix"},
                    },
                ],
                widgets=["inner"],
            ),
        ],
        "links": [
            {"id": 10, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0, "type": "IMAGE"},
            {"id": 13, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "IMAGE"},
            {"id": 11, "origin_id": 2, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "IMAGE"},
            {"id": 14, "origin_id": 2, "origin_slot": 0, "target_id": 3, "target_slot": 0, "type": "IMAGE"},
            {
                "id": 12,
                "origin_id": -10,
                "origin_slot": 1,
                "target_id": 3,
                "target_slot": 1,
                "type": "STRING",
            },
        ],
    }
    ui = _ui(
        [
            _node(5, "EmptyImage", widgets=[8, 8, 1, 0]),
            _node(6, sub_id, inputs=[{"name": "image", "type": "IMAGE", "link": 1}], widgets=["promoted"]),
            _node(7, "SaveImage", inputs=[{"name": "images", "type": "IMAGE", "link": 2}], widgets=["outer"]),
        ],
        [[1, 5, 0, 6, 0, "IMAGE"], [2, 6, 0, 7, 0, "IMAGE"]],
        definitions={"subgraphs": [definition]},
    )
    api = ui_to_api(ui, catalog)
    assert _strip(api) == {
        "5": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "6:1": {"class_type": "ImageInvert", "inputs": {"image": ["5", 0]}},
        "6:2": {"class_type": "ImageInvert", "inputs": {"image": ["6:1", 0]}},
        "6:3": {"class_type": "SaveImage", "inputs": {"images": ["6:2", 0], "filename_prefix": "promoted"}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6:2", 0], "filename_prefix": "outer"}},
    }
    assert validate(api, catalog).ok


@pytest.mark.parametrize(
    ("ui", "match"),
    [
        (_ui([_node(1, "HunyuanVideoSampler")], []), "not installed on this backend"),
        (_ui([_node(1, "workflow>My group")], [], extra={"groupNodes": {"My group": {}}}), "group node"),
        (_ui([_node(1, "Note", widgets=["x"])], []), "no executable nodes"),
        (_ui([_node(1, "SaveImage", inputs=[{"name": "images", "type": "IMAGE", "link": 9}])], []), "link 9"),
        (_ui([_node(1, "SaveImage")], ["bad"]), "malformed link"),
        (_ui([{"id": 1}], []), "malformed node"),
        (_ui([_node(1, "EmptyImage", widgets="64")], []), "widgets_values must be a list"),
        (_ui([_node(1, "EmptyImage", widgets=[64, "randomize", 1, 0])], []), "do not line up"),
    ],
)
def test_unconvertible_workflows_say_why(catalog: Catalog, ui: dict[str, Any], match: str) -> None:
    with pytest.raises(ConversionError, match=match):
        ui_to_api(ui, catalog)


def iter_templates() -> Iterator[tuple[str, dict[str, Any]]]:
    for pkg in TEMPLATE_PACKAGES:
        folder = resources.files(pkg).joinpath("templates")
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if entry.name.endswith(".json") and not entry.name.startswith("index"):
                data = json.loads(entry.read_text(encoding="utf-8"))
                if is_ui_workflow(data):
                    yield entry.name, data


def test_every_official_template_converts_or_says_why(catalog: Catalog) -> None:
    converted: list[str] = []
    refused: dict[str, str] = {}
    invalid: dict[str, str] = {}
    for name, ui in iter_templates():
        try:
            api = ui_to_api(ui, catalog)
        except ConversionError as exc:
            refused[name] = exc.message
            continue
        report = validate(api, catalog, models=required_files(api, catalog))
        (converted if report.ok else []).append(name)
        if not report.ok:
            invalid[name] = report.summary()
    total = len(converted) + len(refused) + len(invalid)
    print(f"templates: {len(converted)} converted and valid, {len(refused)} refused:")
    for name, reason in refused.items():
        print(f"  {name}: {reason}")
    assert total == 188
    assert invalid == {}
    # the snapshot backend lacks the audio nodes; two Moonvalley templates were saved with older node versions
    assert all("not installed on this backend" in r or "do not line up" in r for r in refused.values()), (
        refused
    )
    assert len(converted) >= 170, refused
