"""The planner's parser: numbers with units, number words, resolutions, aspect ratios, colours."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.errors import IntentError
from agents.normalize import align_4k1, finalize, parse_resolution
from agents.parsing import parse_number, parse_request
from agents.reformat import reformat_text


@pytest.mark.parametrize(
    ("text", "value"),
    [("5", 5), ("2.5", 2.5), ("2,5", 2.5), ("five", 5), ("twenty-five", 25), ("twenty five", 25),
     ("two and a half", 2.5), ("a couple of", 2), ("half a", 0.5), ("ninety nine", 99), ("banana", None)],
)  # fmt: skip
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [("5 seconds", "duration", 5), ("5s", "duration", 5), ("2.5 sec", "duration", 2.5),
     ("five seconds", "duration", 5), ("1 minute", "duration", 60), ("half a minute", "duration", 30),
     ("120 frames", "frames", 120), ("at 30 fps", "fps", 30), ("24 frames per second", "fps", 24),
     ("seed 42", "seed", 42), ("seed=7", "seed", 7), ("30 steps", "steps", 30), ("cfg 6.5", "guidance", 6.5),
     ("guidance scale 3", "guidance", 3)],
)  # fmt: skip
def test_numbers_with_units(text: str, key: str, value: float) -> None:
    assert parse_request(f"a fox in the snow, {text}").numbers[key] == value


def test_fps_is_not_frames() -> None:
    parsed = parse_request("48 frames at 12 frames per second")
    assert parsed.numbers["frames"] == 48 and parsed.numbers["fps"] == 12


@pytest.mark.parametrize(
    ("text", "size"),
    [("512x512", (512, 512)), ("720p", (1280, 720)), ("480p", (848, 480)), ("1080p", (1920, 1088)),
     ("16:9", (848, 480)), ("vertical", (480, 848)), ("square", (640, 640)), ("vertical 720p", (720, 1280)),
     ("9:16 1080p", (1088, 1920)), ("1000 x 700", (1008, 704)), ("4k", (3840, 2160))],
)  # fmt: skip
def test_resolutions(text: str, size: tuple[int, int]) -> None:
    assert parse_resolution(text, (848, 480)) == size


def test_unknown_resolution_is_a_clear_error() -> None:
    with pytest.raises(IntentError, match="not understood"):
        parse_resolution("very big", (848, 480))


def test_colours_only_when_they_describe_the_frames() -> None:
    assert parse_request("a test video of solid red frames").color == 0xFF0000
    assert parse_request("test video, colour #336699").color == 0x336699
    assert parse_request("a red fox in the snow").color is None


def test_structured_overrides_win_over_the_text() -> None:
    intent = reformat_text("a fox, 10 seconds, 480p", {"duration": 2, "resolution": "720p", "style": "noir"})
    assert intent.frames == 49 and (intent.width, intent.height) == (1280, 720)
    assert intent.prompt.endswith("noir style")


def test_bad_requests_are_intent_errors() -> None:
    with pytest.raises(IntentError, match="empty"):
        reformat_text("   ")
    with pytest.raises(IntentError, match="extra_params"):
        reformat_text("a fox", {"extra_params": "nope"})
    with pytest.raises(IntentError, match="needs an input image"):
        reformat_text("image to video of a dog running")
    with pytest.raises(IntentError, match="needs an input video"):
        reformat_text("a dog", {"task": "video-to-video"})


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=0.1, max_value=60), st.sampled_from([8.0, 12.0, 24.0, 30.0]))
def test_hunyuan_frames_are_always_4k_plus_1(duration: float, fps: float) -> None:
    intent = reformat_text(f"a river, {duration:.2f} seconds at {fps:g} fps")
    assert intent.frames is not None and (intent.frames - 1) % 4 == 0
    assert abs(intent.frames - duration * fps) <= 3


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_an_intent_or_a_clear_error(text: str) -> None:
    try:
        intent = finalize(reformat_text(text))
    except IntentError as exc:
        assert exc.message
    else:
        assert intent.task


def test_align_4k1() -> None:
    assert [align_4k1(n) for n in (1, 2, 3, 4, 72, 73, 120)] == [1, 1, 5, 5, 73, 73, 121]


@pytest.mark.parametrize(
    ("text", "seconds", "prompt"),
    [
        ("a half-minute timelapse of clouds", 30, "timelapse of clouds"),
        ("a quarter-minute clip of a bird", 15, "bird"),
        ("a minute and a half of waves", 90, "waves"),
        ("a ~5 second clip of snow", 5, "snow"),
        ("a 5 to 6 second clip of snow", 6, "snow"),
        ("a 5-6 s clip of snow", 6, "snow"),
        ("3 or 4 seconds of rain", 4, "rain"),
        ("half second flash of light", 0.5, "flash of light"),
    ],
)
def test_durations_as_fractions_ranges_and_approximations(text: str, seconds: float, prompt: str) -> None:
    parsed = parse_request(text)
    assert parsed.numbers["duration"] == seconds
    assert prompt in parsed.rest and not any(c.isdigit() or c == "~" for c in parsed.rest)


@pytest.mark.parametrize(
    ("text", "aspect", "height"),
    [
        ("a cat video, 16x9", (16, 9), None),
        ("a cat video, 16 by 9", (16, 9), None),
        ("a cat video 9/16", (9, 16), None),
        ("a 3x3 grid of icons", None, None),
        ("a tiktok video of a dancing cat", (9, 16), None),
        ("a phone wallpaper of a galaxy", (9, 16), None),
        ("a youtube thumbnail of a gamer", (16, 9), None),
        ("a 768p video of a cat", None, 768),
        ("a 0000p video", None, None),
    ],
)
def test_frame_shapes_said_many_ways(text: str, aspect: tuple[int, int] | None, height: int | None) -> None:
    parsed = parse_request(text)
    assert parsed.aspect == aspect
    assert parsed.named_height == height
    assert "upscale" not in parsed.numbers


_WORDS = [
    "a", "video", "photo", "of", "cat", ",", "768p", "999p", "100p", "4k", "hd", "16x9", "3x3", "9/16",
    "16 by 9", "by", "2", "0", "0.5", "half", "quarter", "minute", "and a half", "seconds", "s", "~", "to",
    "-", "fps", "frames", "seed", "steps", "cfg", "no", "without", "tiktok", "portrait", "square", "512", "x",
    "at", "in", "using", "model.safetensors", "lora", "2048 by 1024", ":", "then", "upscale", "#ff0000",
    "red",
]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=14))
def test_any_mix_of_the_parsers_words_gives_an_intent_or_a_clear_error(words: list[str]) -> None:
    try:
        intent = finalize(reformat_text(" ".join(words)))
    except IntentError as exc:
        assert exc.message
    else:
        assert intent.task


@pytest.mark.parametrize(
    ("text", "negative", "prompt"),
    [
        ("an image of a cat; avoid blurry, low quality", "blurry, low quality", "cat"),
        ("a video of a cat (negative: cartoon, anime)", "cartoon, anime", "cat"),
        ("a photo of a cat. Negative prompt: blurry, extra fingers", "blurry, extra fingers", "cat"),
        ("avoid crowds; a photo of a quiet beach", "crowds", "quiet beach"),
        ("a cat photo, negative: dogs", "dogs", "cat photo"),
    ],
)
def test_negative_prompts_in_clauses_and_brackets(text: str, negative: str, prompt: str) -> None:
    intent = reformat_text(text)
    assert (intent.negative_prompt, intent.prompt) == (negative, prompt)
