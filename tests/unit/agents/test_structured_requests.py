"""Requests written as fields (key: value lines, bullets, JSON-ish objects), counts of outputs ("a batch of
4", "8 images of") and a lone kind word are read for what they say, never left in the prompt (issue 14)."""

from __future__ import annotations

import pytest

from agents.reformat import reformat_text
from agents.structured import as_sentence


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("subject: a red fox\nstyle: watercolor\nsize: 768x1344", "a red fox, in watercolor style, 768x1344"),
        ("- a koi pond at dawn\n- 5 seconds\n- vertical", "a koi pond at dawn, 5 seconds, vertical"),
        ('{"prompt": "a castle on a hill", "width": 1024, "height": 576}', "a castle on a hill, 1024x576"),
        ('{"type": "video", "prompt": "waves", "seconds": 3}', "a video of waves, 3 seconds"),
        ("{'subject': 'a barn', 'seed': 5}", "{'subject': 'a barn', 'seed': 5}"),  # not JSON, no pairs
        ("a fox at dawn.\nThen upscale it 2x", "a fox at dawn.\nThen upscale it 2x"),  # prose stays
        ("a cat sitting on a mat", "a cat sitting on a mat"),
    ],
)
def test_as_sentence(prompt: str, expected: str) -> None:
    assert as_sentence(prompt) == expected


@pytest.mark.parametrize(
    ("prompt", "checks"),
    [
        (
            "subject: a red fox\nstyle: watercolor\nsize: 768x1344",
            {"width": 768, "height": 1344, "style": "watercolor"},
        ),
        (
            "Subject: lighthouse in a storm\nType: video\nDuration: 4s\nResolution: 720p",
            {"task": "text-to-video", "height": 720, "frames": 97},
        ),
        (
            "* portrait of an old fisherman\n* 1024x1536\n* seed 7\n* no text",
            {"task": "text-to-image", "seed": 7, "negative_prompt": "text", "height": 1536},
        ),
        (
            '{"type": "image", "prompt": "a neon sign", "negative_prompt": "blur", "seed": 3}',
            {"task": "text-to-image", "seed": 3, "negative_prompt": "blur"},
        ),
        ('{"subject": "a cyberpunk samurai", "aspect_ratio": "9:16"}', {"width": 480, "height": 848}),
        ("prompt = a tiny robot\nsteps = 12\ncfg = 4.5", {"steps": 12, "guidance": 4.5}),
    ],
)
def test_fields_reach_the_intent_and_leave_the_prompt(prompt: str, checks: dict[str, object]) -> None:
    intent = reformat_text(prompt)
    for key, value in checks.items():
        got = getattr(intent, key)
        assert value in got if key == "style" and isinstance(got, str) else got == value, (key, got)
    low = intent.prompt.lower()
    for label in ("subject", "size", "style:", "type", "resolution", "seed", "{", "*", " - ", "steps", "cfg"):
        assert label not in low, intent.prompt


@pytest.mark.parametrize(
    ("prompt", "batch", "subject"),
    [
        ("a batch of 4 images of a vintage car", 4, "vintage car"),
        ("8 images of a smiling robot", 8, "smiling robot"),
        ("two pictures of a rose", 2, "rose"),
        ("give me 3 variations of a logo for a bakery", 3, "logo for a bakery"),
        ("a couple of photos of a sailboat", 2, "sailboat"),
        ("batch size: 6, a mountain cabin, image", 6, "mountain cabin"),
        ("an image of a cat", None, "cat"),
        ("a picture of two dogs", None, "two dogs"),
    ],
)
def test_a_count_of_outputs_is_the_batch(prompt: str, batch: int | None, subject: str) -> None:
    intent = reformat_text(prompt)
    assert intent.extra_params.get("batch_size") == batch
    assert intent.prompt == subject


def test_a_huge_batch_is_capped_with_a_warning() -> None:
    intent = reformat_text("a batch of 500 images of a fox")
    assert intent.extra_params["batch_size"] == 16 and intent.warnings


@pytest.mark.parametrize(
    "prompt", ["a desert highway, video, 4 seconds", "a desert highway, a video", "a desert highway, image"]
)
def test_a_lone_kind_word_is_not_content(prompt: str) -> None:
    assert reformat_text(prompt).prompt == "desert highway"


def test_a_colour_word_inside_another_word_does_not_take_the_colour() -> None:
    assert reformat_text("a red fox in watercolor style, image").prompt.startswith("red fox")


@pytest.mark.parametrize(
    ("prompt", "size"),
    [
        ("a cinematic video of a city skyline, 2.39:1", (992, 416)),
        ("a 1.85:1 still of a diner at night", (1392, 752)),
    ],
)
def test_a_decimal_cinema_ratio_shapes_the_frame(prompt: str, size: tuple[int, int]) -> None:
    intent = reformat_text(prompt)
    assert (intent.width, intent.height) == size
    assert ":1" not in intent.prompt


@pytest.mark.parametrize(
    "prompt",
    [
        "I'm making a birthday card for my grandma. Could you create an image of a cozy cottage garden?",
        "This is for a bakery flyer. A picture of a cozy cottage garden, soft light",
        "we're making a calendar for 2026! an image of a cozy cottage garden",
    ],
)
def test_a_sentence_saying_what_it_is_for_is_not_the_picture(prompt: str) -> None:
    intent = reformat_text(prompt)
    assert intent.task == "text-to-image"
    assert intent.prompt.startswith("cozy cottage garden"), intent.prompt


def test_the_planner_makes_no_step_of_the_context() -> None:
    from agents.compose import plan_request

    plan = plan_request("I'm making a card for my mum. Paint a vase of tulips, then upscale it 2x")
    assert [s.op for s in plan.steps] == ["generate_image", "upscale"]


@pytest.mark.parametrize(
    "prompt",
    ["an instagram post of a latte, square", "a square instagram post of a latte", "insta post: a latte"],
)
def test_a_social_post_is_a_square_picture(prompt: str) -> None:
    intent = reformat_text(prompt)
    assert intent.task == "text-to-image" and intent.width == intent.height
    assert intent.prompt == "latte"


@pytest.mark.parametrize(
    ("prompt", "batch", "subject"),
    [
        ("a fox, 4 versions", 4, "fox"),
        ("make 4 variations of a logo", 4, "logo"),
        ("make a logo", None, "logo"),
    ],
)
def test_a_count_said_after_the_subject_and_a_content_noun_alone(
    prompt: str, batch: int | None, subject: str
) -> None:
    intent = reformat_text(prompt)
    assert (intent.extra_params.get("batch_size"), intent.prompt) == (batch, subject)


@pytest.mark.parametrize(
    ("prompt", "checks", "subject"),
    [
        (
            "a cozy cabin in the woods --ar 16:9 --seed 42 --no people",
            {"seed": 42, "negative_prompt": "people"},
            "cozy cabin in the woods",
        ),
        (
            "portrait of a woman, neon lights --ar 9:16 --v 6",
            {"width": 768, "height": 1360},
            "portrait of a woman, neon lights",
        ),
        ("a koi pond, image --ar 1:1 --stylize 250 --niji", {"width": 1024, "height": 1024}, "koi pond"),
        (
            "**Prompt:** a lighthouse\n**Size:** 1024x768\n**Type:** image",
            {"width": 1024, "height": 768},
            "lighthouse",
        ),
        ('Prompt: "a red panda eating bamboo"', {}, "a red panda eating bamboo"),
        ("Video \u2014 4s \u2014 a hummingbird feeding", {"task": "text-to-video"}, "hummingbird feeding"),
        (
            "a dog running on the beach (5s, 1080p, 30fps)",
            {"fps": 30, "height": 1088},
            "dog running on the beach",
        ),
    ],
)
def test_other_tools_flags_and_markup(prompt: str, checks: dict[str, object], subject: str) -> None:
    intent = reformat_text(prompt)
    for key, value in checks.items():
        assert getattr(intent, key) == value, key
    assert intent.prompt == subject


@pytest.mark.parametrize(
    ("prompt", "batch", "subject"),
    [
        ("4 images of a fox, then upscale them 2x", 4, "a fox"),
        ("a batch of 3 pictures of a lighthouse, then make them watercolor", 3, "a lighthouse"),
        ("an image of a fox, then upscale it 2x", None, "a fox"),
    ],
)
def test_a_chains_picture_takes_the_batch(prompt: str, batch: int | None, subject: str) -> None:
    from agents.compose import plan_request

    step = plan_request(prompt).steps[0]
    assert (step.params.get("batch"), step.params["prompt"]) == (batch, subject)
