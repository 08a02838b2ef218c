"""Which model family a composed step uses: the asked one, then one whose files the backend has, then one
made for the picture's size (`size_misfit`), then priority: a 1024x1024 or 1080p picture is not SD1.5's work
unless SD1.5 is all the backend offers. And a family word leaves the prompt reading naturally."""

from __future__ import annotations

import re

import pytest

from agents.compose import compose_request
from agents.compose.clauses import GAP, close_gaps
from agents.compose.fragments import size_misfit
from agents.families import graph_family
from agents.reformat import clean_prompt, detect_family
from node_catalog import Catalog

CATALOG = Catalog.bundled()
SD15 = "v1-5-pruned-emaonly.safetensors"


def test_size_misfit_counts_doublings_past_what_a_model_renders_well() -> None:
    assert size_misfit((512, 512), (512, 768)) == 0
    assert size_misfit((512, 512), (1024, 1024)) == 1
    assert size_misfit((1024, 1024), (1920, 1080)) == 0
    assert size_misfit((1024, 1024), (3840, 2160)) == 2
    assert size_misfit(None, (4096, 4096)) == size_misfit((512, 512), None) == 0


LARGE = [
    "a 1024x1024 photo of an old lighthouse, then upscale it 2x",
    "1024 x 1024 pic of a koi, then make it 2x bigger",
    "a 1920 by 1080 wallpaper of a canyon then make it look like a watercolor",
    "wallpaper 1920x1080: neon city in the rain -> upscale x2",
    "Generate a 1280x1280 image of a teapot. Then upscale it.",
    "a fox in a meadow, 1080p, then upscale it 2x",
]


@pytest.mark.parametrize("prompt", LARGE)
def test_a_large_picture_is_not_generated_by_sd15(prompt: str) -> None:
    comp = compose_request(prompt, CATALOG)
    assert graph_family(comp.workflow, CATALOG) in {"sdxl", "flux", "qwen_image"}, comp.fragments
    assert SD15 not in comp.models.get("checkpoints", [])


SMALL = ["a 512x512 photo of a cat, then upscale it 2x", "a 512x768 drawing of a robot, then upscale it"]


@pytest.mark.parametrize("prompt", SMALL)
def test_a_small_picture_keeps_the_default(prompt: str) -> None:
    comp = compose_request(prompt, CATALOG)
    assert graph_family(comp.workflow, CATALOG) == "sd15"


def test_the_backends_files_win_over_the_size() -> None:
    comp = compose_request(LARGE[0], CATALOG, models={"checkpoints": [SD15]})
    assert graph_family(comp.workflow, CATALOG) == "sd15"  # what the backend has beats a missing SDXL


def test_an_asked_family_wins_over_the_size() -> None:
    comp = compose_request("a 512x512 flux photo of a cat, then upscale it 2x", CATALOG)
    assert graph_family(comp.workflow, CATALOG) == "flux"


FAMILY_WORDS = [
    ("a qwen image of a cat", "a cat"),
    ("make an sdxl render of a mountain cabin, then upscale it", "a mountain cabin"),
    ("An SDXL illustration of an owl, then upscale it 2x", "an owl"),
    ("a flux picture of a red fox in snow then upscale it", "a red fox in snow"),
    ("pls a qwen-image poster of a jazz night, then upscale", "a jazz night"),
    ("a wan video of an old harbour at dawn, 3 seconds", "an old harbour at dawn"),
    ("an sd1.5 painting of a ship in a storm, then upscale x2", "a ship in a storm"),
]


@pytest.mark.parametrize(("prompt", "expected"), FAMILY_WORDS)
def test_family_words_leave_the_prompt_reading_naturally(prompt: str, expected: str) -> None:
    comp = compose_request(prompt, CATALOG)
    texts = [
        str(v)
        for node in comp.workflow.values()
        for k, v in node["inputs"].items()
        if k in ("text", "prompt") and isinstance(v, str) and v
    ]
    assert expected in texts, texts
    for text in texts:
        assert not re.search(r"(?i)\ba [aeiou]|\ban [^aeiou\s]", text), text
        assert not re.search(r"(?i)\b(?:qwen|sdxl|flux|wan|sd1\.5)\b", text), text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"a {GAP * 4} image of a cat", "an image of a cat"),
        (f"An {GAP * 4} render", "A render"),
        (f"a{GAP * 3} owl and an apple", "an owl and an apple"),  # only the article before a gap changes
        ("a apple", "a apple"),
    ],
)
def test_close_gaps(text: str, expected: str) -> None:
    assert " ".join(close_gaps(text).split()) == expected


@pytest.mark.parametrize(
    ("text", "family", "prompt"),
    [
        ("a flux image of an apple on a table", "flux", "apple on a table"),
        ("Wan21 clip of a paper boat", "wan21", "paper boat"),
        ("render it with SDXL: a castle on a hill", "sdxl", "castle on a hill"),
        ("a QWEN picture of a bakery sign", "qwen-image", "bakery sign"),
        ("hunyuan video of waves at night", "hunyuan-video", "waves at night"),
    ],
)
def test_reformat_reads_the_planners_family_words(text: str, family: str, prompt: str) -> None:
    assert detect_family(text) == family
    cleaned = clean_prompt(text)
    assert prompt in cleaned and not re.search(r"(?i)\ba [aeiou]", cleaned), cleaned
