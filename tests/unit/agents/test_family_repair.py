"""The execution repair for a ControlNet of another family: ComfyUI's real error for an SD1.5 ControlNet on an
SDXL checkpoint (it validates, then the sampler fails) swaps the ControlNet for the SDXL one."""

from __future__ import annotations

from typing import Any

import pytest

from agents.errors import RepairError
from agents.families import file_families
from agents.linklist import LinkList, node_for_api_id
from agents.refine import Refiner
from node_catalog import Catalog
from node_catalog.linklist import api_to_linklist

CATALOG = Catalog.bundled()
SDXL = "sd_xl_base_1.0.safetensors"
SD15_CANNY = "control_v11p_sd15_canny_fp16.safetensors"
SD15_DEPTH = "control_v11f1p_sd15_depth_fp16.safetensors"
SDXL_CANNY = "controlnet-canny-sdxl-1.0.safetensors"
# What ComfyUI 0.3.75 reports for it on the smoke weights (tests/integration/smoke_weights/
# test_smoke_more_families.py reproduces it): the sampler node, SDXL's 2048-wide text context meeting the
# SD1.5 ControlNet's 768-wide key projection.
REAL_ERROR = {
    "node_type": "KSampler",
    "exception_type": "RuntimeError",
    "exception_message": "mat1 and mat2 shapes cannot be multiplied (154x2048 and 768x320)\n",
}


def sdxl_with(controlnet: str) -> tuple[LinkList, str]:
    """The planner's SDXL + ControlNet graph as a link list, and the API id of its sampler."""
    graph: dict[str, dict[str, Any]] = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": SDXL}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a robot", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": "LoadImage", "inputs": {"image": "edges.png"}},
        "5": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": controlnet}},
        "6": {
            "class_type": "ControlNetApplyAdvanced",
            "inputs": {
                **{"positive": ["2", 0], "negative": ["3", 0], "control_net": ["5", 0], "image": ["4", 0]},
                **{"strength": 1.0, "start_percent": 0.0, "end_percent": 1.0},
            },
        },
        "7": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "8": {
            "class_type": "KSampler",
            "inputs": {
                **{"model": ["1", 0], "positive": ["6", 0], "negative": ["6", 1], "latent_image": ["7", 0]},
                **{"seed": 5, "steps": 1, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal"},
                "denoise": 1.0,
            },
        },
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}},
        "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": "x"}},
    }
    doc = api_to_linklist(graph, CATALOG)
    ids = (str(i) for i in range(1, len(doc.nodes) + 1))
    sampler = next(i for i in ids if node_for_api_id(doc, i) == "KSampler_0")
    return doc, sampler


def controlnet_of(doc: LinkList) -> Any:
    return doc.values("ControlNetLoader_0")["control_net_name"]


def test_an_sd15_controlnet_in_an_sdxl_graph_becomes_the_sdxl_one_of_the_same_kind() -> None:
    doc, sampler = sdxl_with(SD15_CANNY)
    models = {
        "checkpoints": [SDXL],
        "controlnet": [SD15_CANNY, SD15_DEPTH, "controlnet-depth-sdxl-1.0.safetensors", SDXL_CANNY],
    }
    fixes = Refiner(CATALOG).fix_execution_error(
        doc, {**REAL_ERROR, "node_id": sampler}, models=models, bad_models=[]
    )
    assert controlnet_of(doc) == SDXL_CANNY
    assert len(fixes) == 1 and "sd15 ControlNet in a sdxl graph" in fixes[0], fixes


def test_without_a_controlnet_of_the_family_the_repair_says_what_to_add() -> None:
    doc, sampler = sdxl_with(SD15_CANNY)
    with pytest.raises(RepairError, match=r"KSampler fails .* no sdxl ControlNet in models/controlnet"):
        Refiner(CATALOG).fix_execution_error(
            doc,
            {**REAL_ERROR, "node_id": sampler},
            models={"checkpoints": [SDXL], "controlnet": [SD15_CANNY, SD15_DEPTH]},
            bad_models=[],
        )
    assert controlnet_of(doc) == SD15_CANNY


def test_a_fitting_controlnet_is_left_alone() -> None:
    doc, sampler = sdxl_with(SDXL_CANNY)
    with pytest.raises(RepairError, match="no repair known for KSampler"):
        Refiner(CATALOG).fix_execution_error(
            doc, {**REAL_ERROR, "node_id": sampler}, models={"controlnet": [SDXL_CANNY]}, bad_models=[]
        )
    assert controlnet_of(doc) == SDXL_CANNY


def test_families_come_from_the_fragments_then_from_the_name() -> None:
    from agents.families import known_families as _known_families

    known = _known_families(CATALOG)
    assert file_families(known, "controlnet", SD15_CANNY) == {"sd15"}
    assert file_families(known, "controlnet", SDXL_CANNY) == {"sdxl"}
    assert file_families(known, "checkpoints", SDXL) == {"sdxl"}
    assert file_families(known, "controlnet", "diffusers_xl_depth_full.safetensors") == {"sdxl"}
    assert file_families(known, "controlnet", "my_controlnet.safetensors") == frozenset()
