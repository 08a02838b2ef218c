"""A request for an output no workflow here makes (audio, a 3D model, text) is refused with
`missing_capability` (the API's 422), never answered with a picture or a video; the same words describing a
picture or a clip stay a generation, and a video asked "with sound" is made silent with a warning."""

from __future__ import annotations

import pytest

from node_catalog import Catalog
from pipeline import GenerationRequest, Generator


@pytest.fixture(scope="module")
def generator() -> Generator:
    return Generator(Catalog.bundled())


@pytest.mark.parametrize(
    "prompt",
    [
        "make a song about cats",
        "Could you compose a catchy jingle for a bakery?",
        "an mp3 of rain sounds",
        "a podcast intro with background music",
        "i need a voiceover for my ad",
        "generate a 3d model of a chair",
        "create an stl file of a vase",
        "write me a poem about the sea",
        "pls write a short essay on volcanoes",
    ],
)
async def test_refused_with_missing_capability(generator: Generator, prompt: str) -> None:
    result = await generator.generate(GenerationRequest(prompt=prompt))
    assert result.workflow is None and result.error_code == "missing_capability", result.error
    assert "image or a video" in (result.error or "")


@pytest.mark.parametrize(
    "prompt",
    [
        "make a cat playing music",
        "a music box on a table",
        "a speech bubble with a heart",
        "a president giving a speech",
        "a poster for a song contest",
        "a video of a band recording a song",
        "a beat-up truck in the desert",
        "a picture of a 3d model of a chair on a desk",
    ],
)
async def test_the_same_words_in_a_description_stay_a_generation(generator: Generator, prompt: str) -> None:
    result = await generator.generate(GenerationRequest(prompt=prompt))
    assert result.ok and result.workflow is not None, result.error


@pytest.mark.parametrize("prompt", ["make a video of a cat with sound", "a clip of a guitarist, with music"])
async def test_a_video_with_sound_is_silent_with_a_warning(generator: Generator, prompt: str) -> None:
    result = await generator.generate(GenerationRequest(prompt=prompt))
    assert result.ok and result.intent is not None
    assert any("silent" in w for w in result.intent["warnings"])
