"""normalize_workflow, the networkx view and the link-list form."""

from __future__ import annotations

import json
from typing import Any

import pytest

from node_catalog import Catalog, ConversionError, WorkflowFormatError, normalize_workflow, validate
from node_catalog.linklist import LinkList, api_to_linklist, class_of, linklist_to_api
from node_catalog.topology import (
    feeding_subgraph,
    from_nx,
    link_cycles,
    output_nodes,
    to_nx,
    topological_order,
    unused_nodes,
)
from tests.support import load_sample


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.bundled()


@pytest.fixture(scope="module")
def hunyuan() -> dict[str, Any]:
    data: dict[str, Any] = load_sample("09_hunyuan_t2v_official.prompt.json")
    return data


def test_normalize_accepts_every_form(catalog: Catalog, hunyuan: dict[str, Any]) -> None:
    assert normalize_workflow(hunyuan, catalog) == hunyuan
    assert normalize_workflow({"prompt": hunyuan}, catalog) == hunyuan
    assert normalize_workflow(json.dumps(hunyuan), catalog) == hunyuan
    ui = load_sample("hunyuan_video_text_to_video.template_ui.json")
    assert set(normalize_workflow(ui, catalog)) == set(hunyuan)
    assert set(normalize_workflow({"workflow": ui}, catalog)) == set(hunyuan)
    ints = {
        1: {"class_type": "EmptyImage", "inputs": {}},
        2: {"class_type": "SaveImage", "inputs": {"images": [1, 0]}},
    }
    assert normalize_workflow(ints, catalog)["2"]["inputs"]["images"] == ["1", 0]


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([1, 2], "got list"),
        ("hello", "not valid JSON"),
        ("[1]", "got list"),
        ({}, "empty"),
        ({"1": "x"}, "must be an object"),
        ({"1": {"inputs": {}}}, "no 'class_type'"),
        ({"1": {"class_type": 3}}, "non-empty string"),
        ({"1": {"class_type": "X", "inputs": [1]}}, "'inputs' must be an object"),
        ({"prompt": [1]}, "'prompt' must be an object"),
        (None, "got NoneType"),
    ],
)
def test_normalize_rejects_non_workflows(catalog: Catalog, bad: Any, match: str) -> None:
    with pytest.raises(WorkflowFormatError, match=match):
        normalize_workflow(bad, catalog)


def test_nx_round_trip_and_questions(catalog: Catalog, hunyuan: dict[str, Any]) -> None:
    graph = to_nx(hunyuan, catalog)
    assert graph.number_of_nodes() == len(hunyuan)
    edge = graph.get_edge_data("12", "17")["model"]
    assert edge == {"slot": 0, "input": "model", "type": "MODEL"}
    assert from_nx(graph) == hunyuan
    order = topological_order(hunyuan)
    pos = {n: i for i, n in enumerate(order)}
    for src, dst in graph.edges():
        assert pos[src] < pos[dst]
    assert order[-1] == "80"
    assert set(feeding_subgraph(hunyuan, "80")) == set(hunyuan)
    assert output_nodes(hunyuan, catalog) == ["80"]
    extra = {**hunyuan, "99": {"class_type": "VAEDecode", "inputs": {"samples": ["13", 0], "vae": ["10", 0]}}}
    assert unused_nodes(extra, catalog) == ["99"]
    assert "99" not in feeding_subgraph(extra, "80")
    with pytest.raises(WorkflowFormatError):
        feeding_subgraph(hunyuan, "nope")


def test_missing_link_targets_and_cycles() -> None:
    wf = {"1": {"class_type": "SaveImage", "inputs": {"images": ["5", 0]}}}
    graph = to_nx(wf)
    assert graph.nodes["5"]["missing"] and from_nx(graph) == wf
    cyc = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["3", 0]}},
    }
    assert link_cycles(cyc) == [["1", "2"], ["3"]]
    with pytest.raises(WorkflowFormatError, match="cycle"):
        topological_order(cyc)


def test_linklist_round_trip(catalog: Catalog, hunyuan: dict[str, Any]) -> None:
    ll = api_to_linklist(hunyuan, catalog)
    assert ("UNETLoader_0", "MODEL", "BasicScheduler_0", "model") in ll.links
    assert ll.widgets["EmptyHunyuanLatentVideo_0"] == {
        "width": 848,
        "height": 480,
        "length": 73,
        "batch_size": 1,
    }
    back = linklist_to_api(ll, catalog)
    assert api_to_linklist(back, catalog) == ll
    assert sorted(n["class_type"] for n in back.values()) == sorted(n["class_type"] for n in hunyuan.values())


def test_linklist_fills_defaults_and_validates(catalog: Catalog) -> None:
    wf = linklist_to_api(
        [
            ["EmptyImage_0", "IMAGE", "ImageInvert_0", "image"],
            ["ImageInvert_0", "IMAGE", "SaveImage_0", "images"],
        ],
        catalog,
    )
    assert wf["1"]["inputs"] == {"width": 512, "height": 512, "batch_size": 1, "color": 0}
    assert wf["3"]["inputs"]["images"] == ["2", 0] and wf["3"]["_meta"]["title"] == "SaveImage_0"
    assert validate(wf, catalog).ok
    ll = LinkList.parse(
        [["EmptyImage_0", "IMAGE", "SaveImage_0", "images"]], widgets={"EmptyImage_0": {"width": 64}}
    )
    assert linklist_to_api(ll, catalog)["1"]["inputs"]["width"] == 64
    assert class_of("CLIPTextEncode_12") == "CLIPTextEncode" and class_of("KSampler") == "KSampler"


@pytest.mark.parametrize(
    ("links", "match"),
    [
        ([["HunyuanVideoSampler_0", "LATENT", "SaveImage_0", "images"]], "unknown node class"),
        ([["EmptyImage_0", "LATENT_OUT", "SaveImage_0", "images"]], "has no output"),
        ([["EmptyImage_0", "IMAGE", "SaveImage_0", "pictures"]], "has no input"),
        ([["EmptyImage_0", "IMAGE", "SaveImage_0"]], "4 strings"),
        ("EmptyImage_0", "must be a list"),
    ],
)
def test_linklist_errors_are_clear(catalog: Catalog, links: Any, match: str) -> None:
    with pytest.raises(ConversionError, match=match):
        linklist_to_api(links, catalog)


def test_linklist_editing_and_document_form(catalog: Catalog) -> None:
    ll = api_to_linklist(
        {
            "1": {"class_type": "EmptyImage", "inputs": {"width": 64}, "_meta": {"title": "Canvas"}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}},
        },
        catalog,
    )
    assert ll.titles == {"EmptyImage_0": "Canvas"}  # only titles other than the node name
    inverted = ll.add("ImageInvert")
    ll.links = [("EmptyImage_0", "IMAGE", inverted, "image"), (inverted, "0", "SaveImage_0", "images")]
    assert ll.incoming("SaveImage_0") == {"images": (inverted, "0")}
    assert ll.consumers("EmptyImage_0") == [("IMAGE", inverted, "image")]
    renamed = ll.rename_class("EmptyImage_0", "SolidMask")
    assert renamed == "SolidMask_0" and ll.nodes[0] == renamed and ll.titles == {renamed: "Canvas"}
    assert ll.values(renamed) == {"width": 64} and ll.links[0][0] == renamed
    ll.rename_class(renamed, "EmptyImage")
    wf = linklist_to_api(ll, catalog, fill_defaults=False)
    assert wf["1"]["_meta"]["title"] == "Canvas" and wf["2"]["inputs"]["images"] == ["3", 0]  # "0": a slot
    assert LinkList.from_document(ll.to_document()) == ll
    loose = LinkList.from_document({"nodes": {"Canvas_0": {"class_type": "EmptyImage"}}, "links": []})
    assert loose.nodes == ["EmptyImage_0"]
