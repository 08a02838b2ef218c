"""A composed graph takes the values the request sets for the whole run (the API's resolution, steps and
seed; "12 steps" in the text), not only each fragment's defaults; an upscale keeps its own size."""

from __future__ import annotations

from typing import Any

import pytest

from node_catalog import Catalog
from pipeline import GenerationRequest, Generator


def values(workflow: dict[str, Any], class_type: str) -> list[dict[str, Any]]:
    return [n["inputs"] for n in workflow.values() if n["class_type"] == class_type]


@pytest.mark.parametrize(
    ("prompt", "overrides"),
    [
        ("a fox in the snow, then upscale it 2x", {"resolution": "768x512", "steps": 12, "seed": 7}),
        ("a fox in the snow 768x512, 12 steps, seed 7, then upscale it 2x", {}),
    ],
)
async def test_request_values_reach_the_composed_generation(prompt: str, overrides: dict[str, Any]) -> None:
    result = await Generator(Catalog.bundled()).generate(
        GenerationRequest(prompt=prompt, overrides=overrides)
    )
    assert result.plan is not None and result.workflow is not None
    (latent,) = values(result.workflow, "EmptyLatentImage")
    (sampler,) = values(result.workflow, "KSampler")
    assert (latent["width"], latent["height"], sampler["steps"], sampler["seed"]) == (768, 512, 12, 7)
    assert [v["scale_by"] for v in values(result.workflow, "ImageScaleBy")] == [2.0]


async def test_without_request_values_the_fragments_defaults_stay() -> None:
    result = await Generator(Catalog.bundled()).generate(
        GenerationRequest(prompt="a fox in the snow, then upscale it 2x")
    )
    assert result.workflow is not None
    (latent,) = values(result.workflow, "EmptyLatentImage")
    # the fragment's own size stays; the fragment is the default picture family's (SDXL, as for a lone
    # text-to-image request), not SD1.5 at 512 (issue 14)
    assert (latent["width"], latent["height"]) == (1024, 1024)
    (loader,) = values(result.workflow, "CheckpointLoaderSimple")
    assert loader["ckpt_name"] == "sd_xl_base_1.0.safetensors"
