"""Findings of the offline evaluation (evals/sets/core.jsonl), one test each: input files steer the task,
sizes written with "by", ordinals are not counts, the prompt keeps the user's words, negative lists stay
whole, out-of-range values are clamped with a warning, and no input file is ever invented."""

from __future__ import annotations

import pytest

from agents.errors import InputRequiredError
from agents.normalize import finalize
from agents.parsing import parse_request
from agents.reformat import reformat_text


@pytest.mark.parametrize(
    ("prompt", "inputs", "task"),
    [("Animate this photo: the waves roll in gently, 3 seconds at 24 fps, 480p", {"input_image": "beach.png"},
      "image-to-video"),
     ("animate this", {"input_image": "photo.png"}, "image-to-video"),
     ("make this painting come alive, the river flows", {"input_image": "p.png"}, "image-to-video"),
     ("Give this still of a ferris wheel some motion", {"input_image": "f.png"}, "image-to-video"),
     ("Turn the attached image into a 4 second video where the clouds move slowly", {"input_image": "l.png"},
      "image-to-video"),
     ("Turn this photo into a watercolor painting", {"input_image": "house.png"}, "image-to-image"),
     ("Restyle the attached picture as a Van Gogh oil painting", {"input_image": "s.png"}, "image-to-image"),
     ("Transform my selfie into an anime character", {"input_image": "me.jpg"}, "image-to-image"),
     ("make the attached picture 4 times bigger", {"input_image": "thumb.png"}, "upscale"),
     ("Make my drone footage look like a vintage film, 480p", {"input_video": "drone.mp4"}, "video-to-video"),
     ("re-render this clip in claymation style", {"extra_params": {"video": "pets.mp4"}}, "video-to-video"),
     ("a fox in the snow, 3 seconds", {}, "text-to-video")],
)  # fmt: skip
def test_a_provided_input_steers_the_task(prompt: str, inputs: dict[str, object], task: str) -> None:
    intent = reformat_text(prompt, inputs)
    assert intent.task == task
    if task != "text-to-video":
        assert (intent.input_image or intent.input_video) in {"beach.png", "photo.png", "p.png", "f.png",
            "l.png", "house.png", "s.png", "me.jpg", "thumb.png", "drone.mp4", "pets.mp4"}  # fmt: skip


def test_any_strategy_is_steered_by_an_input_image() -> None:
    # finalize runs after the LLM's intent too: a text-only task plus an image becomes the image task
    from agents.intent import Intent

    assert finalize(Intent(task="text-to-video"), {"input_image": "a.png"}).task == "image-to-video"
    assert finalize(Intent(task="text-to-image"), {"input_image": "a.png"}).task == "image-to-image"
    assert finalize(Intent(task="text-to-video"), {"input_video": "a.mp4"}).task == "video-to-video"
    # a task the caller forces is kept
    forced = finalize(Intent(task="text-to-video"), {"task": "text-to-video", "input_image": "a.png"})
    assert forced.task == "text-to-video"


@pytest.mark.parametrize(
    ("text", "size"),
    [("1280 by 720", (1280, 720)), ("512 by 512", (512, 512)), ("1920 \u00d7 1080", (1920, 1080)),
     ("1024 by 576", (1024, 576))],
)  # fmt: skip
def test_sizes_written_with_by_or_times_sign(text: str, size: tuple[int, int]) -> None:
    parsed = parse_request(f"an hourglass with sand running out, {text}, 6 seconds")
    assert (parsed.width, parsed.height) == size
    assert "by" not in parsed.rest and "hourglass" in parsed.rest


def test_square_with_a_side_and_nouns_that_are_not_orientations() -> None:
    intent = reformat_text(
        "Animate the logo image with a gentle shimmer, 2 seconds, square 512", {"input_image": "l.png"}
    )
    assert (intent.width, intent.height) == (512, 512)
    portrait = reformat_text(
        "Bring this portrait to life: she smiles, 2 seconds, 720p", {"input_image": "p.png"}
    )
    assert (portrait.width, portrait.height) == (1280, 720)
    assert reformat_text("a vertical 720p video of rain").height == 1280


def test_ordinals_and_glued_words_are_not_counts_and_the_prompt_keeps_its_words() -> None:
    intent = reformat_text(
        "Use the input image as the first frame; the camera slowly zooms in, 5 seconds, 720p, seed 21",
        {"input_image": "city.png"},
    )
    assert intent.task == "image-to-video"
    assert intent.frames == 121 and intent.seed == 21
    assert "as the first frame" in intent.prompt and "zooms in" in intent.prompt
    assert "5 seconds" not in intent.prompt and "720p" not in intent.prompt
    assert parse_request("a second frame of a cat").numbers == {}
    assert parse_request("a video lasting 5 seconds of a dog in 720p").rest == "a video of a dog"


@pytest.mark.parametrize(
    ("text", "negative"),
    [("A red fox in snow. Avoid blurry frames and watermarks.", "blurry frames, watermarks"),
     ("A lighthouse at night, 5 seconds, avoid: noise, artifacts", "noise, artifacts"),
     ("A panda, 4 seconds, exclude: humans, text, logos", "humans, text, logos"),
     ("a red car, no text, no watermark", "text, watermark"),
     ("a beach without people or boats, 3 seconds", "people, boats"),
     ("a cat without people, in a garden", "people")],
)  # fmt: skip
def test_negative_lists_stay_whole(text: str, negative: str) -> None:
    intent = reformat_text(text)
    assert intent.negative_prompt == negative
    assert not any(word in intent.prompt for word in negative.split(", "))


def test_out_of_range_values_are_clamped_with_a_warning() -> None:
    long = reformat_text("a 20 minute long video of a campfire")
    assert long.task == "text-to-video" and long.frames is not None and 4089 <= long.frames <= 4096
    assert any("duration" in w for w in long.warnings) and any("frame limit" in w for w in long.warnings)
    fast = reformat_text("a video at 1000 fps of a hummingbird, 2 seconds")
    assert fast.fps == 120 and fast.frames == 241 and any("fps 1000" in w for w in fast.warnings)
    huge = reformat_text("a fox, 20000x20000")
    assert huge.width is not None and huge.width <= 4096 and huge.warnings
    assert reformat_text("a fox", {"duration": 600, "fps": 120}).frames == 4093
    assert reformat_text("a fox, 3 seconds").warnings == []


@pytest.mark.parametrize(
    ("overrides", "fps", "frames"),
    [({"fps": 0.1}, 0.1, 57), ({"fps": 1, "duration": 600}, 1.0, 597), ({"fps": 0.001}, 1 / 600, 1)],
)
def test_low_fps_keeps_the_video_within_the_duration_limit(
    overrides: dict[str, float], fps: float, frames: int
) -> None:
    """frames / fps is the duration, whose limit (600 s) binds before the frame limit at a low fps; the
    intent stays valid (it used to fail re-validation in the flow step: a 500 from /api/workflow/generate)."""
    from agents.intent import Intent

    intent = reformat_text("a video of a campfire", overrides={**overrides, "video": True})
    assert intent.fps == pytest.approx(fps) and intent.frames == frames
    assert intent.duration is not None and intent.duration <= 600 and intent.warnings
    Intent.model_validate(intent.model_dump(mode="json"))


def test_no_input_file_is_invented() -> None:
    with pytest.raises(InputRequiredError, match="needs an input image") as info:
        reformat_text("an image-to-video of a bridge, but I have no image")
    assert info.value.kind == "image"
    with pytest.raises(InputRequiredError, match="needs an input video"):
        reformat_text("a dog", {"task": "video-to-video"})


async def test_a_forced_template_never_names_its_example_file() -> None:
    from node_catalog import Catalog
    from pipeline import GenerationRequest, Generator

    generator = Generator(Catalog.bundled())
    result = await generator.generate(GenerationRequest(prompt="a bridge at dusk", template="hunyuan_i2v"))
    assert result.error_code == "input_required" and result.workflow is None
    assert "needs an input image" in (result.error or "")
    given = await generator.generate(
        GenerationRequest(
            prompt="a bridge at dusk", template="hunyuan_i2v", overrides={"input_image": "b.png"}
        )
    )
    assert given.ok and any(
        n["class_type"] == "LoadImage" and n["inputs"]["image"] == "b.png"
        for n in (given.workflow or {}).values()
    )
    planned = await generator.generate(
        GenerationRequest(prompt="an image-to-video of a bridge, but I have no image")
    )
    assert planned.error_code == "input_required"


async def test_clamped_values_are_reported_as_warnings() -> None:
    from node_catalog import Catalog
    from pipeline import GenerationRequest, Generator

    result = await Generator(Catalog.bundled()).generate(
        GenerationRequest(prompt="a video at 1000 fps of a hummingbird, 2 seconds")
    )
    assert result.ok and any("fps 1000" in w for w in result.warnings)
    reformat = next(s for s in result.steps if s["agent"] == "reformat")
    assert reformat["details"]["warnings"] == result.warnings


async def test_the_llm_strategy_clamps_and_is_steered_the_same_way() -> None:
    from typing import Any

    from agents.reformat import LLMReformat

    class Answer:
        async def complete_json(self, **_: Any) -> dict[str, Any]:
            return {"task": "text-to-video", "prompt": "a campfire", "duration": 1200, "fps": 1000}

    intent = await LLMReformat(Answer()).reformat("a 20 minute campfire", {"input_image": "fire.png"})  # type: ignore[arg-type]
    assert intent.task == "image-to-video" and intent.input_image == "fire.png"
    assert intent.fps == 120 and intent.frames == 4093
    assert any("duration 1200" in w for w in intent.warnings) and any(
        "fps 1000" in w for w in intent.warnings
    )


@pytest.mark.parametrize(
    ("prompt", "inputs", "expected"),
    [("Short 2 second clip, 24 fps: a chef flipping a pancake", {}, "chef flipping a pancake"),
     ("Make a vertical video (9:16) of fireworks, 4 seconds", {}, "vertical video of fireworks"),
     ("a skateboarder doing a kickflip, 4s @ 24fps, 960x544", {}, "skateboarder doing a kickflip"),
     ("image to video: make the flag in this picture wave, 3 s", {"input_image": "f.png"},
      "flag in this picture wave"),
     ("video to video: turn the attached clip into anime style", {"input_video": "a.mp4"},
      "turn the attached clip, anime style")],
)  # fmt: skip
def test_consumed_phrases_leave_no_debris(prompt: str, inputs: dict[str, str], expected: str) -> None:
    # task names, "@", empty brackets and ", :" left by removed parameter phrases are not prompt text
    assert reformat_text(prompt, inputs).prompt == expected


def test_a_negative_seed_is_clamped_not_left_in_the_prompt() -> None:
    intent = reformat_text("a 4 second video, 24 fps, 720p, seed -3, of a windmill")
    assert intent.seed == 0 and intent.prompt == "windmill"
    assert intent.warnings == ["seed -3 is below the supported minimum; using 0"]


async def test_an_image_only_family_makes_a_bare_description_a_picture() -> None:
    from node_catalog import Catalog
    from pipeline import GenerationRequest, Generator

    generator = Generator(Catalog.bundled())
    asked = await generator.generate(
        GenerationRequest(prompt="a lighthouse", overrides={"model_family": "sd15"})
    )
    assert asked.ok and asked.template == "sd15_t2i"
    named = await generator.generate(GenerationRequest(prompt="a lighthouse at dusk with sdxl"))
    assert named.ok and named.template == "sdxl_t2i"
    plain = await generator.generate(GenerationRequest(prompt="a lighthouse at dusk"))
    assert plain.template == "hunyuan_t2v"  # the platform's default stays video
    clip = await generator.generate(
        GenerationRequest(prompt="a 3 second clip of a lighthouse", overrides={"model_family": "sd15"})
    )
    assert clip.intent is not None and clip.intent["task"] == "text-to-video"  # a clip stays a clip


@pytest.mark.parametrize(
    ("prompt", "task", "subject"),
    [
        ("could u make a short vid (2s) of rain on a window", "text-to-video", "rain on a window"),
        ("can u make me a vid of a dog surfing", "text-to-video", "dog surfing"),
    ],
)
def test_texting_shorthand_is_request_phrasing_not_the_subject(prompt: str, task: str, subject: str) -> None:
    """ "u" for "you" and "vid" for "video" are how people type; they never reach the prompt text."""
    intent = reformat_text(prompt)
    assert intent.task == task
    assert intent.prompt == subject
