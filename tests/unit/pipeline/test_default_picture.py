"""One rule for a picture made from text with no size said (`agents.defaults.picture_size`): a lone request
and the first picture of a chain both generate with SDXL at 1024x1024 (issue 14), and the answer's intent
describes the output the user gets (a 2x upscale of 1024 is 2048), read from the final graph."""

from __future__ import annotations

from typing import Any

import pytest

from agents.defaults import default_family, default_size, picture_size
from agents.intent import Intent
from agents.values import describe_graph
from node_catalog import Catalog
from pipeline import GenerationRequest, Generator

CATALOG = Catalog.bundled()


@pytest.fixture(scope="module")
def generator() -> Generator:
    return Generator(CATALOG)


def _inputs(workflow: dict[str, Any], class_type: str) -> list[dict[str, Any]]:
    return [n["inputs"] for n in workflow.values() if n["class_type"] == class_type]


def test_the_rule_is_the_lone_text_to_image_default() -> None:
    assert picture_size() == default_size("text-to-image", default_family("text-to-image")) == (1024, 1024)


@pytest.mark.parametrize(
    "prompt",
    [
        "a photo of a lighthouse",
        "a fox, then upscale it 2x",
        "a cat, then make it watercolor",
        "draw a mountain cabin and then upscale the result 4x",
        "picture of an owl. then enlarge it 2 times",
        "a bowl of ramen, then turn it into an oil painting",
    ],
)
async def test_a_picture_made_from_text_defaults_to_sdxl_at_1024(generator: Generator, prompt: str) -> None:
    result = await generator.generate(GenerationRequest(prompt=prompt))
    assert result.ok and result.workflow is not None, result.error
    first = _inputs(result.workflow, "EmptyLatentImage")[0]
    assert (first["width"], first["height"]) == (1024, 1024)
    assert _inputs(result.workflow, "CheckpointLoaderSimple")[0]["ckpt_name"] == "sd_xl_base_1.0.safetensors"


@pytest.mark.parametrize(
    ("prompt", "size"),
    [
        ("a fox, then upscale it 2x", (2048, 2048)),
        ("a lighthouse at dusk, 768x512, then upscale 4x", (3072, 2048)),
        ("a temple at dawn, then upscale it to 2048 pixels wide", (2048, 2048)),
        ("a red car, then extend it 256 pixels on the left", (1280, 1024)),
        ("a cat, then make it watercolor", (1024, 1024)),
    ],
)
async def test_the_intent_gives_the_size_of_the_output(
    generator: Generator, prompt: str, size: tuple[int, int]
) -> None:
    result = await generator.generate(GenerationRequest(prompt=prompt))
    assert result.ok and result.intent is not None, result.error
    assert (result.intent["width"], result.intent["height"]) == size


def test_an_upscale_models_own_factor_is_read_from_its_file() -> None:
    workflow = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 512, "height": 256, "batch_size": 1, "color": 0},
        },
        "2": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "RealESRGAN_x4plus.pth"}},
        "3": {
            "class_type": "ImageUpscaleWithModel",
            "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]},
        },
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}},
    }
    described = describe_graph(Intent(task="test-image"), workflow, CATALOG)
    assert (described.width, described.height) == (2048, 1024)


def test_a_side_of_zero_keeps_the_shape() -> None:
    workflow = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 800, "height": 400, "batch_size": 1, "color": 0},
        },
        "2": {
            "class_type": "ImageScale",
            "inputs": {
                "image": ["1", 0],
                "upscale_method": "lanczos",
                "width": 0,
                "height": 1000,
                "crop": "disabled",
            },
        },
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
    }
    described = describe_graph(Intent(task="test-image"), workflow, CATALOG)
    assert (described.width, described.height) == (2000, 1000)


async def test_a_composed_batch_reaches_the_latent(generator: Generator) -> None:
    result = await generator.generate(GenerationRequest(prompt="4 images of a fox, then upscale them 2x"))
    assert result.ok and result.workflow is not None
    assert [n["batch_size"] for n in _inputs(result.workflow, "EmptyLatentImage")] == [4]
