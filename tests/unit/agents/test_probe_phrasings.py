"""Phrasings found by probing (issue 14): negatives said as wishes, questions, hyphenated shapes, picture
nouns of casual speech, settings in any order, a shouted request whose kind comes last."""

from __future__ import annotations

import pytest

from agents.compose import plan_request
from agents.reformat import reformat_text


@pytest.mark.parametrize(
    ("prompt", "positive", "negative"),
    [
        ("I don't want any text in it: a poster of a jazz festival", "poster of a jazz festival", "text"),
        (
            "make sure there's no people in it, a photo of an empty street at dawn",
            "empty street at dawn",
            "people",
        ),
        ("a photo of a cabin, don't include snow", "cabin", "snow"),
        ("a dog, (no leash), photo", "dog", "leash"),
        (
            "negative prompt: ugly, deformed. prompt: a princess in a garden",
            "princess in a garden",
            "ugly, deformed",
        ),
    ],
)
def test_negatives_said_as_wishes(prompt: str, positive: str, negative: str) -> None:
    intent = reformat_text(prompt)
    assert (intent.prompt, intent.negative_prompt) == (positive, negative)


@pytest.mark.parametrize(
    ("prompt", "subject"),
    [
        ("what would a purple tiger look like? show me", "purple tiger"),
        ("How would a city on Mars look?", "a city on Mars"),
    ],
)
def test_a_question_asks_for_its_subject(prompt: str, subject: str) -> None:
    assert reformat_text(prompt).prompt.lower().endswith(subject.lower().removeprefix("a "))


@pytest.mark.parametrize(
    ("prompt", "task", "subject"),
    [
        ("can you pls make a pic of a dragon? thx", "text-to-image", "dragon"),
        ("a selfie of an astronaut on the moon", "text-to-image", "astronaut on the moon"),
        ("a sketch of a horse, black and white", "text-to-image", "sketch of a horse, black and white"),
        ("a GIF of a spinning top", "text-to-video", "spinning top"),
        ("a short looping clip of a lava lamp", "text-to-video", "lava lamp"),
    ],
)
def test_casual_media_nouns(prompt: str, task: str, subject: str) -> None:
    intent = reformat_text(prompt)
    assert (intent.task, intent.prompt) == (task, subject)


def test_a_hyphenated_shape() -> None:
    intent = reformat_text("a landscape-format picture of a lake")
    assert intent.width is not None and intent.height is not None and intent.width > intent.height
    assert intent.prompt == "lake"


def test_cfg_before_steps() -> None:
    intent = reformat_text("cfg scale 8 steps 40 seed 2024 a samurai under cherry blossoms")
    assert (intent.guidance, intent.steps, intent.seed) == (8, 40, 2024)
    assert intent.prompt == "samurai under cherry blossoms"


@pytest.mark.parametrize(
    ("prompt", "ops"),
    [
        ("A CAT WEARING SUNGLASSES ON A BEACH!!! \U0001f525 5 SEC VIDEO PLS", ["generate_video"]),
        ("a fox in the snow. 5 seconds, video please", ["generate_video"]),
        ("a picture of a cat. then a 3 second video of it", ["generate_image", "image_to_video"]),
    ],
)
def test_a_kind_said_last_is_the_kind_made(prompt: str, ops: list[str]) -> None:
    assert [s.op for s in plan_request(prompt).steps] == ops


def test_a_shouted_request_keeps_only_its_description() -> None:
    intent = reformat_text("A CAT WEARING SUNGLASSES ON A BEACH!!! 5 SEC VIDEO PLS")
    assert intent.task == "text-to-video" and intent.duration == pytest.approx(5, abs=0.1)
    assert "VIDEO" not in intent.prompt and "SEC" not in intent.prompt


def test_a_negative_said_before_the_picture_is_its_negative() -> None:
    steps = plan_request("negative prompt: ugly, deformed. prompt: a princess in a garden, image").steps
    assert [s.op for s in steps] == ["generate_image"]
    assert (steps[0].params["prompt"], steps[0].params["negative_prompt"]) == (
        "a princess in a garden",
        "ugly, deformed",
    )


@pytest.mark.parametrize(
    ("prompt", "task"),
    [
        ("a thumbnail for my video about cooking pasta", "text-to-image"),
        ("a poster of a video game character", "text-to-image"),
        ("a poster for our film festival", "text-to-image"),
        ("a cover image for my youtube video", "text-to-image"),
        ("a clip of a gamer playing a video game", "text-to-video"),
        ("a video of a cat for my channel", "text-to-video"),
    ],
)
def test_a_video_word_that_names_no_output(prompt: str, task: str) -> None:
    assert reformat_text(prompt).task == task


def test_a_video_game_stays_content() -> None:
    assert reformat_text("a video about a video game").prompt == "video game"
