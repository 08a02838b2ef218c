"""The answer's `intent` describes the graph produced (family, size, frames, fps, steps, seed, prompt), read
back from the final graph in one place (`agents.values.describe_graph`), whatever path built it: a composed
Wan or Qwen graph, a template, a chain whose last model differs from the first."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from agents.compose.fragments import FragmentLibrary
from agents.families import GENERIC_FAMILIES, graph_family, intent_family
from agents.intent import Intent, ModelFamily
from agents.values import describe_graph
from evals import graph_facts
from node_catalog import Catalog
from pipeline import GenerationRequest, Generator

CATALOG = Catalog.bundled()


@pytest.fixture(scope="module")
def generator() -> Generator:
    return Generator(CATALOG)


async def _run(generator: Generator, prompt: str, **overrides: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    result = await generator.generate(GenerationRequest(prompt=prompt, overrides=overrides))
    assert result.ok, (prompt, result.error)
    assert result.intent is not None and result.workflow is not None
    return result.intent, result.workflow


def _graph_values(workflow: dict[str, Any]) -> dict[str, Any]:
    sizes = graph_facts.sizes(workflow)
    frames = graph_facts.frame_counts(workflow)
    fps = graph_facts.fps_values(workflow)
    return {
        "size": sizes[-1][:2] if sizes else None,
        "frames": frames[-1][0] if frames else None,
        "fps": fps[-1][0] if fps else None,
        "seeds": {s for s, _ in graph_facts.seeds(workflow)},
    }


# (request, input image or None, the family the graph's model is)
FAMILY_CASES = [
    ("make a wan video of a koi pond, 5 seconds", None, "wan21"),
    ("Wan 2.1 clip: rain on a tin roof, five seconds", None, "wan21"),
    ("animate it with wan, the leaves should sway gently", "tree.png", "wan21"),
    ("a qwen image of a cat", None, "qwen-image"),
    ("pls do me a QWEN pic of a bakery sign saying FRESH BREAD", None, "qwen-image"),
    ("flux picture of a red fox in snow", None, "flux"),
    ("a 4 second video of surf at dawn", None, "hunyuan-video"),
    ("a photo of a cat, then animate it with wan", None, "wan21"),
]


@pytest.mark.parametrize(("prompt", "image", "family"), FAMILY_CASES)
async def test_intent_names_the_family_of_the_graph(
    generator: Generator, prompt: str, image: str | None, family: str
) -> None:
    intent, workflow = await _run(generator, prompt, **({"input_image": image} if image else {}))
    assert intent["model_family"] == family
    facts = _graph_values(workflow)
    if facts["size"] is not None:
        assert (intent["width"], intent["height"]) == facts["size"]
    assert intent["frames"] == facts["frames"]
    if facts["frames"] is not None:
        assert intent["fps"] == facts["fps"]
        assert intent["duration"] == pytest.approx(facts["frames"] / facts["fps"], abs=0.01)
    else:
        assert intent["fps"] is None and intent["duration"] is None
    assert intent["seed"] in facts["seeds"]


@pytest.mark.parametrize(
    "prompt",
    [
        "a wan video of a lighthouse, 3 seconds, seed 42, 30 steps",
        "wan21 clip of a paper boat drifting, 2s, seed=42, 30 steps",
    ],
)
async def test_intent_values_are_the_graphs(generator: Generator, prompt: str) -> None:
    intent, workflow = await _run(generator, prompt)
    assert intent["model_family"] == "wan21"
    assert intent["seed"] == 42 and intent["steps"] == 30
    assert intent["fps"] == _graph_values(workflow)["fps"] == 16.0  # Wan's rate, not HunyuanVideo's 24
    assert "wan" not in intent["prompt"].lower()  # the text the model is given


async def test_a_model_free_graph_is_family_none(generator: Generator) -> None:
    intent, _ = await _run(generator, "a solid red test image, 256x256")
    assert intent["model_family"] == "none" and (intent["width"], intent["height"]) == (256, 256)


def test_every_fragment_family_has_an_intent_name() -> None:
    families = {f.family for f in FragmentLibrary.bundled().fragments} - GENERIC_FAMILIES
    assert families and all(intent_family(f) in get_args(ModelFamily) for f in families)


def test_describe_graph_reads_the_last_model_and_leaves_unset_values_none() -> None:
    workflow = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "2": {"class_type": "EmptyLatentImage", "inputs": {"width": 1152, "height": 896, "batch_size": 1}},
    }
    first = Intent(task="text-to-image", model_family="sd15", frames=73, fps=24, width=512, height=512)
    described = describe_graph(first, workflow, CATALOG)
    assert graph_family(workflow, CATALOG) == "sdxl"
    assert described.model_family == "sdxl"
    assert (described.width, described.height) == (1152, 896)
    assert described.frames is None and described.fps is None and described.steps is None


def test_a_graph_value_outside_the_intents_range_is_left_unsaid() -> None:
    workflow = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveAnimatedWEBP", "inputs": {"images": ["1", 0], "fps": 500.0}},
    }
    described = describe_graph(Intent(task="test-video", width=64, height=64), workflow, CATALOG)
    assert described.width is None and described.height is None and described.fps is None
