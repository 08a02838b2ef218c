"""A request that names a model family gets that family's graph, template or composed: a family no
template serves ("a wan 2.1 video", "a qwen image") is composed from its fragments, never the default
template's model."""

from __future__ import annotations

from typing import Any

import pytest

from node_catalog import Catalog
from pipeline import GenerationRequest, Generator

# (request, a file the graph must load, files it must not)
CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("a 2 second wan 2.1 video of a fox running", "wan2.1_t2v_1.3B_fp16.safetensors", ("hunyuan",)),
    ("Wan: slow drone shot over a misty forest, 3 seconds", "wan2.1_t2v_1.3B_fp16.safetensors", ("hunyuan",)),
    ("animate cat.png with wan", "wan2.1_i2v_480p_14B_fp8_scaled.safetensors", ("hunyuan",)),
    ("a qwen image of a lighthouse at dusk", "qwen_image_fp8_e4m3fn.safetensors", ("sd_xl",)),
    ("using qwen, a poster that says GRAND OPENING", "qwen_image_fp8_e4m3fn.safetensors", ("sd_xl",)),
    # families a template serves keep it
    ("a hunyuan video of waves at night", "hunyuan_video_t2v_720p_bf16.safetensors", ("wan2.1",)),
    ("an sdxl picture of a castle", "sd_xl_base_1.0.safetensors", ("qwen",)),
    ("a flux image of a neon sign that says open", "flux1-dev.safetensors", ("sd_xl",)),
]


def _files(workflow: dict[str, Any]) -> set[str]:
    return {
        v
        for node in workflow.values()
        for v in node.get("inputs", {}).values()
        if isinstance(v, str) and v.endswith((".safetensors", ".pth", ".ckpt"))
    }


@pytest.fixture(scope="module")
def generator() -> Generator:
    return Generator(Catalog.bundled())


@pytest.mark.parametrize(("prompt", "wanted", "unwanted"), CASES, ids=[c[0][:40] for c in CASES])
async def test_a_named_family_gets_its_own_model(
    generator: Generator, prompt: str, wanted: str, unwanted: tuple[str, ...]
) -> None:
    result = await generator.generate(GenerationRequest(prompt=prompt))
    assert result.error is None, result.error
    assert result.validation is not None and result.validation["ok"], result.validation
    assert result.workflow is not None
    files = _files(result.workflow)
    assert wanted in files, files
    assert not [f for f in files if any(word in f for word in unwanted)], files
