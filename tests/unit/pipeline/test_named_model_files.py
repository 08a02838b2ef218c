"""Model files a request names by file ("using dreamshaper_8.safetensors", "with add_detail.safetensors"):
the graph loads that file when the backend has it, applies a LoRA named without the word, and says so when
the backend lacks the file (never silently another model)."""

from __future__ import annotations

from typing import Any

import pytest

from agents.parsing import parse_request
from node_catalog import Catalog
from pipeline import GenerationRequest, Generator

MODELS = {
    "checkpoints": [
        "sd_xl_base_1.0.safetensors",
        "SDXL/juggernautXL_v9.safetensors",
        "dreamshaper_8.safetensors",
    ],
    "loras": ["add_detail.safetensors", "styles/pixel_art_xl.safetensors"],
    "vae": ["sdxl_vae.safetensors"],
}


def loaders(workflow: dict[str, Any], class_type: str, field: str) -> list[Any]:
    return [n["inputs"][field] for n in workflow.values() if n["class_type"] == class_type]


@pytest.mark.parametrize(
    ("text", "files", "prompt"),
    [
        ("a knight using dreamshaper_8.safetensors", ["dreamshaper_8.safetensors"], "a knight"),
        ("checkpoint: juggernautXL_v9.safetensors, a barn", ["juggernautXL_v9.safetensors"], "a barn"),
        ("a fox in snow with the lora add_detail.safetensors", ["add_detail.safetensors"], "a fox in snow"),
        ("a fox, 5 seconds", [], "a fox"),
    ],
)
def test_the_parser_reads_model_files_out_of_the_prompt(text: str, files: list[str], prompt: str) -> None:
    parsed = parse_request(text)
    assert parsed.model_files == files
    assert parsed.rest.strip(" ,") == prompt


@pytest.mark.parametrize(
    ("text", "ckpt"),
    [
        ("a portrait of a knight using dreamshaper_8.safetensors", "dreamshaper_8.safetensors"),
        ("juggernautXL_v9.safetensors: a photo of a lighthouse at dusk", "SDXL/juggernautXL_v9.safetensors"),
        ("a photo of a lighthouse at dusk", "sd_xl_base_1.0.safetensors"),
    ],
)
async def test_a_named_checkpoint_is_the_one_loaded(text: str, ckpt: str) -> None:
    result = await Generator(Catalog.bundled()).generate(GenerationRequest(prompt=text, models=MODELS))
    assert result.validation is not None and result.validation["ok"], result.steps
    assert result.workflow is not None
    assert loaders(result.workflow, "CheckpointLoaderSimple", "ckpt_name") == [ckpt]


@pytest.mark.parametrize(
    ("text", "lora"),
    [
        ("a castle on a hill with add_detail.safetensors at 0.7", "add_detail.safetensors"),
        ("pixel_art_xl.safetensors, a cat astronaut", "styles/pixel_art_xl.safetensors"),
    ],
)
async def test_a_lora_named_only_by_its_file_is_applied(text: str, lora: str) -> None:
    result = await Generator(Catalog.bundled()).generate(GenerationRequest(prompt=text, models=MODELS))
    assert result.validation is not None and result.validation["ok"], result.steps
    assert result.workflow is not None
    assert loaders(result.workflow, "LoraLoader", "lora_name") == [lora]
    assert loaders(result.workflow, "CheckpointLoaderSimple", "ckpt_name") != [lora]


async def test_a_named_file_the_backend_lacks_is_reported_not_swapped_silently() -> None:
    result = await Generator(Catalog.bundled()).generate(
        GenerationRequest(prompt="a harbour at night using nosuchmodel_v2.safetensors", models=MODELS)
    )
    assert result.workflow is not None
    refine = next(s for s in result.steps if s["agent"] == "refine")
    assert any("nosuchmodel_v2.safetensors" in fix for fix in refine["details"]["fixes"])
