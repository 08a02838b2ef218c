"""Refine (planner strategy): every kind of repair on link lists, validation errors and execution errors."""

from __future__ import annotations

import pytest

from agents.errors import RepairError
from agents.execute import compile_workflow
from agents.linklist import LinkList, class_of, link_list_to_api, parse_link_list
from agents.refine import Refiner
from node_catalog import Catalog, validate
from node_catalog.linklist import api_to_linklist

CATALOG = Catalog.bundled()


def doc(nodes: dict[str, dict[str, object]], links: list[list[str]]) -> LinkList:
    return parse_link_list({"nodes": nodes, "links": links})


async def test_unknown_nodes_are_replaced_by_the_closest_fitting_real_node() -> None:
    d = doc(
        {"EmptyImageSolid_0": {"inputs": {"width": 64, "height": 64}}, "VideoCreate_0": {}, "SaveMP4_0": {}},
        [
            ["EmptyImageSolid_0", "IMAGE", "VideoCreate_0", "images"],
            ["VideoCreate_0", "VIDEO", "SaveMP4_0", "video"],
        ],
    )
    fixes = await Refiner(CATALOG).refine(d)
    assert sorted(class_of(n) for n in d.nodes) == ["CreateVideo", "EmptyImage", "SaveVideo"]
    assert sum("replaced by" in f for f in fixes) == 3
    assert validate(compile_workflow(d, CATALOG), CATALOG).ok


async def test_wrong_link_types_are_rerouted_and_missing_inputs_filled() -> None:
    d = doc(
        {"EmptyImage_0": {"inputs": {"width": 64, "height": 64, "batch_size": 4, "color": 0}},
         "CreateVideo_0": {}, "SaveVideo_0": {}},
        # IMAGE into SaveVideo.video (needs VIDEO); CreateVideo's images never linked
        [["EmptyImage_0", "IMAGE", "SaveVideo_0", "video"]],
    )  # fmt: skip
    fixes = await Refiner(CATALOG).refine(d)
    workflow = compile_workflow(d, CATALOG)
    assert validate(workflow, CATALOG).ok, fixes
    assert any("rerouted" in f or "dropped" in f for f in fixes)
    assert any("CreateVideo_0.images was unlinked" in f for f in fixes)
    assert d.widgets["CreateVideo_0"]["fps"] == 30.0  # required widget filled with its default


async def test_wrong_input_names_are_mapped_by_type() -> None:
    d = doc(
        {"EmptyImage_0": {}, "SaveImage_0": {}},
        [["EmptyImage_0", "IMAGE", "SaveImage_0", "pictures"]],
    )
    fixes = await Refiner(CATALOG).refine(d)
    assert d.links == [("EmptyImage_0", "IMAGE", "SaveImage_0", "images")], fixes


async def test_values_are_clamped_snapped_and_coerced() -> None:
    d = doc(
        {"EmptyHunyuanLatentVideo_0": {"inputs": {"width": 850, "height": "480", "length": 50,
                                                  "batch_size": 0}},
         "KSamplerSelect_0": {"inputs": {"sampler_name": "eulr"}},
         "SaveVideo_0": {"inputs": {"format": "mkv", "bogus": 1}}},
        [],
    )  # fmt: skip
    await Refiner(CATALOG).refine(d)
    latent = d.widgets["EmptyHunyuanLatentVideo_0"]
    assert latent == {"width": 848, "height": 480, "length": 49, "batch_size": 1}
    assert d.widgets["KSamplerSelect_0"]["sampler_name"] == "euler"
    assert d.widgets["SaveVideo_0"]["format"] in {"auto", "mp4"}
    assert "bogus" not in d.widgets["SaveVideo_0"]


async def test_model_files_are_replaced_by_ones_the_backend_has() -> None:
    d = doc(
        {"UNETLoader_0": {"inputs": {"unet_name": "hunyuan_t2v.safetensors", "weight_dtype": "default"}}}, []
    )
    models = {"diffusion_models": ["flux1-dev.safetensors", "hunyuan_video_t2v_720p_bf16.safetensors"]}
    await Refiner(CATALOG).refine(d, models=models)
    assert d.widgets["UNETLoader_0"]["unet_name"] == "hunyuan_video_t2v_720p_bf16.safetensors"


async def test_a_graph_without_output_gets_one() -> None:
    d = doc({"EmptyImage_0": {}}, [])
    fixes = await Refiner(CATALOG).refine(d)
    assert any(class_of(n) == "SaveImage" for n in d.nodes), fixes


def test_execution_errors_become_fixes() -> None:
    d = LinkList(nodes=["VAELoader_0"], widgets={"VAELoader_0": {"vae_name": "bad.safetensors"}})
    bad: list[str] = []
    error = {"node_id": "1", "node_type": "VAELoader", "exception_type": "SafetensorError",
             "exception_message": "Error while deserializing header: header too small"}  # fmt: skip
    fixes = Refiner(CATALOG).fix_execution_error(
        d, error, models={"vae": ["bad.safetensors"]}, bad_models=bad
    )
    assert d.widgets["VAELoader_0"]["vae_name"] == "pixel_space" and bad == ["bad.safetensors"]
    assert "failed to load" in fixes[0]
    with pytest.raises(RepairError, match="no other"):
        Refiner(CATALOG).fix_execution_error(
            LinkList(nodes=["UNETLoader_0"], widgets={"UNETLoader_0": {"unet_name": "x.safetensors"}}),
            {**error, "node_type": "UNETLoader"},
            models={"diffusion_models": ["x.safetensors"]},
            bad_models=[],
        )
    save = LinkList(nodes=["SaveVideo_0"], widgets={"SaveVideo_0": {"format": "mkv"}})
    fixes = Refiner(CATALOG).fix_execution_error(
        save, {"node_id": "1", "exception_type": "ValueError", "exception_message": "unknown format mkv"},
        models=None, bad_models=[],
    )  # fmt: skip
    assert save.widgets["SaveVideo_0"]["format"] == "auto"


def test_validation_errors_with_closest_models_are_fixed() -> None:
    graph = {
        "1": {"class_type": "VAELoader", "inputs": {"vae_name": "ae.sft"}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "3": {"class_type": "VAEEncode", "inputs": {"pixels": ["2", 0], "vae": ["1", 0]}},
        "4": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["1", 0]}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "x"}},
    }
    d = api_to_linklist(graph, CATALOG)
    report = validate(compile_workflow(d, CATALOG), CATALOG, models={"vae": ["ae.safetensors"]})
    assert not report.ok
    fixes = Refiner(CATALOG).fix_validation(d, {"node_errors": report.node_errors}, models=None)
    assert d.widgets["VAELoader_0"]["vae_name"] == "ae.safetensors", fixes


async def test_a_missing_lora_is_never_swapped_for_another() -> None:
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "2": {
            "class_type": "LoraLoaderModelOnly",
            "inputs": {"model": ["1", 0], "lora_name": "watercolor_v3.safetensors", "strength_model": 1.0},
        },
    }
    models = {"checkpoints": ["sd15.safetensors"], "loras": ["watercolor_v2.safetensors"]}
    d = api_to_linklist(graph, CATALOG)
    await Refiner(CATALOG).refine(d, models=models)
    assert d.widgets["LoraLoaderModelOnly_0"]["lora_name"] == "watercolor_v3.safetensors"
    report = validate(compile_workflow(d, CATALOG), CATALOG, models=models)
    assert not report.ok  # the validator says it is missing ...
    fixes = Refiner(CATALOG).fix_validation(d, {"node_errors": report.node_errors}, models=models)
    assert not fixes and d.widgets["LoraLoaderModelOnly_0"]["lora_name"] == "watercolor_v3.safetensors"


def test_link_list_round_trip_keeps_the_graph(samples_dir: object) -> None:
    import json
    from pathlib import Path

    graph = json.loads((Path(str(samples_dir)) / "09_hunyuan_t2v_official.prompt.json").read_text())
    d = api_to_linklist(graph, CATALOG)
    assert len(d.links) == 15 and "EmptyHunyuanLatentVideo_0" in d.nodes
    again = link_list_to_api(d, CATALOG)
    assert validate(again, CATALOG, models={"diffusion_models": ["hunyuan_video_t2v_720p_bf16.safetensors"],
                    "text_encoders": ["clip_l.safetensors", "llava_llama3_fp8_scaled.safetensors"],
                    "vae": ["hunyuan_video_vae_bf16.safetensors"]}).ok  # fmt: skip
    assert sorted(n["class_type"] for n in again.values()) == sorted(n["class_type"] for n in graph.values())


async def test_big_seeds_survive_exactly() -> None:
    seed = 2**64 - 12345
    d = doc({"RandomNoise_0": {"inputs": {"noise_seed": seed}}, "KSamplerSelect_0": {"inputs": {}}}, [])
    await Refiner(CATALOG).refine(d)
    assert d.widgets["RandomNoise_0"]["noise_seed"] == seed
    d = doc({"RandomNoise_0": {"inputs": {"noise_seed": str(2**64 + 5)}}}, [])
    await Refiner(CATALOG).refine(d)
    assert d.widgets["RandomNoise_0"]["noise_seed"] == 2**64 - 1


def test_one_link_list_type_for_catalog_and_agents() -> None:
    # the agents edit node_catalog's LinkList: no second model of the same thing
    from node_catalog.linklist import LinkList as CatalogLinkList

    assert LinkList is CatalogLinkList
    loose = parse_link_list(
        {"nodes": {"Loader_0": {"class_type": "VAELoader", "inputs": {"vae_name": "pixel_space"}},
                   "Save_0": {"class_type": "SaveImage", "title": "Output"}},
         "links": [["Loader_0", "VAE", "VAEDecode_0", "vae"], ["VAEDecode_0", 0, "Save_0", "images"]]}
    )  # fmt: skip
    assert loose.nodes == ["VAELoader_0", "SaveImage_0", "VAEDecode_0"]  # the document's order first
    assert loose.widgets["VAELoader_0"] == {"vae_name": "pixel_space"}
    assert ("VAEDecode_0", "0", "SaveImage_0", "images") in loose.links
    workflow = link_list_to_api(loose, CATALOG)
    assert workflow["2"]["inputs"]["images"] == ["3", 0] and workflow["2"]["_meta"]["title"] == "Output"
    assert parse_link_list(loose.to_document()) == loose
