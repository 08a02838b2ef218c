"""Readings found by probing requests in new styles (terse, verbose, casual, non-native): each with several
phrasings, so the fix is the general cause and not one sentence."""

from __future__ import annotations

from typing import Any

import pytest

from agents.compose import Planner
from agents.parsing import parse_request
from agents.reformat import reformat_text

PLANNER = Planner()


def _steps(text: str, files: dict[str, str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    return [(s.op, s.params) for s in PLANNER.plan(text, files or {}).steps]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        (
            "I want an image of a tiger, make it 1024 by 1024 and then make it move for 5 seconds",
            (1024, 1024),
        ),
        ("a castle. make it 1920x1080, seed 5", (1920, 1080)),
        ("a koi pond; 768x512 please", (768, 512)),
    ],
)
def test_a_clause_of_settings_sets_the_step_before(text: str, values: tuple[int, int]) -> None:
    steps = _steps(text)
    assert steps[0][0] == "generate_image" and (steps[0][1]["width"], steps[0][1]["height"]) == values
    assert all(op != "edit" for op, _ in steps)  # not an edit "make it 1024 by 1024"


@pytest.mark.parametrize(
    "text",
    [
        "a ballerina made of light; upscale to 4k",
        "a clip of a cat and a clip of a dog, then join them and interpolate to 60 fps",
    ],
)
def test_an_operation_with_a_setting_is_no_settings_clause(text: str) -> None:
    assert len(_steps(text)) >= 2


@pytest.mark.parametrize(
    ("text", "kind", "prompt"),
    [
        ("canny controlnet from this pic: a cyberpunk samurai", "canny", "a cyberpunk samurai"),
        ("use a canny controlnet on this pic to make a neon jellyfish", "canny", "a neon jellyfish"),
        ("depth map guided: a haunted victorian hallway", "depth", "a haunted victorian hallway"),
        ("a cat with the same pose", "pose", "a cat"),
    ],
)
def test_control_on_the_uploaded_picture(text: str, kind: str, prompt: str) -> None:
    plan = PLANNER.plan(text, {"ref.png": "image"})
    (step,) = plan.steps
    assert step.op == "control" and step.params["kind"] == kind and step.params["prompt"] == prompt
    assert step.inputs == {"reference": "ref.png"}


@pytest.mark.parametrize(
    ("text", "name", "strength", "prompt"),
    [
        ("a fox <lora:pixel_art:0.8>, then upscale it", "pixel_art", 0.8, "a fox"),
        ("a photo of a lighthouse with lora:retro_film at 0.7", "retro_film", 0.7, "a lighthouse"),
        (
            "apply the watercolor_v2 lora to a harbor scene at sunset",
            "watercolor_v2",
            1.0,
            "a harbor scene at sunset",
        ),
        (
            "a fox in the forest using my pixelart.safetensors lora",
            "pixelart.safetensors",
            1.0,
            "a fox in the forest",
        ),
    ],
)
def test_lora_phrasings(text: str, name: str, strength: float, prompt: str) -> None:
    steps = dict(_steps(text))
    assert steps["lora"]["name"] == name and steps["lora"].get("strength", 1.0) == strength
    assert steps["generate_image"]["prompt"] == prompt


@pytest.mark.parametrize(
    ("text", "second"),
    [
        ("portrait 9:16 picture of a dancer, then add film grain", "edit"),
        ("a portrait of a woman with short hair, then add a red hat", "edit"),
        ("a photo of a street, then give it a film look", None),
    ],
)
def test_film_looks_are_no_clips(text: str, second: str | None) -> None:
    ops = [op for op, _ in _steps(text)]
    assert "image_to_video" not in ops and "generate_video" not in ops
    if second:
        assert ops[1] == second


@pytest.mark.parametrize(
    ("text", "prompt"),
    [
        ("draw a dragon, then upscale it, then turn it into a 4 second video", "a dragon"),
        (
            "a mountain village at dawn then upscale it 2x then animate it for 3 seconds",
            "a mountain village at dawn",
        ),
    ],
)
def test_an_animation_after_an_upscale_describes_the_picture(text: str, prompt: str) -> None:
    assert dict(_steps(text))["image_to_video"]["prompt"] == prompt


@pytest.mark.parametrize(
    ("text", "prompt"),
    [
        (
            "Use the input image as the first frame; the camera slowly zooms in, 5 seconds",
            "the camera slowly zooms in",
        ),
        ("use this photo as the start frame, the boat drifts by", "the boat drifts by"),
    ],
)
def test_a_verbs_particle_ends_a_prompt(text: str, prompt: str) -> None:
    assert dict(_steps(text, {"x.png": "image"}))["image_to_video"]["prompt"] == prompt


@pytest.mark.parametrize(
    ("text", "prompt"),
    [
        (
            "hey!! could you maybe do a picture of my dog wearing sunglasses on a beach?? thx",
            "my dog wearing sunglasses on a beach",
        ),
        ("we need a banner 1500 x 500 for our bakery website", "banner for our bakery website"),
        (
            "clip, 10 sec, 16:9, 1080p, subject: cherry blossoms falling in kyoto",
            "cherry blossoms falling in kyoto",
        ),
        ("gimme a vertical video of rain on a window, 2s", "rain on a window"),
        ("can u make a vid of a cat chasing a laser pointer, like 6 secs", "cat chasing a laser pointer"),
        (
            "I would like very much a video, five seconds long, of an old man feeding pigeons",
            "old man feeding pigeons",
        ),
        ("i'd like a photo of a red kite", "red kite"),
    ],
)
def test_reformat_leaves_request_phrasing_out(text: str, prompt: str) -> None:
    assert reformat_text(text).prompt == prompt


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("a square image of a cat", "an image of a cat"),
        ("a vertical video of rain", "a video of rain"),
        ("a 720p image of a fox", "an image of a fox"),
    ],
)
def test_consumed_spans_leave_articles_agreeing(text: str, rest: str) -> None:
    assert parse_request(text).rest == rest


@pytest.mark.parametrize(
    ("text", "said", "prompt"),
    [
        (
            'qwen image of a storefront with the sign "MOTO REPAIR", 1664x928',
            "MOTO REPAIR",
            "a storefront with the sign",
        ),
        ('a neon sign "OPEN LATE" in a rainy window', "OPEN LATE", "a neon sign in a rainy window"),
        ('a jam jar with a label "GRANDMA\'S PLUM"', "GRANDMA'S PLUM", "a jam jar with a label"),
        ('minimal logo "Bean There" for a coffee shop', "Bean There", "minimal logo for a coffee shop"),
    ],
)
def test_a_thing_carrying_quoted_text_renders_it(text: str, said: str, prompt: str) -> None:
    (step,) = PLANNER.plan(text, {}).steps
    assert step.op == "render_text" and step.params["text"] == said and step.params["prompt"] == prompt


def test_render_text_keeps_its_size() -> None:
    (step,) = PLANNER.plan('a sign "OPEN", 1664x928', {}).steps
    assert (step.params["width"], step.params["height"]) == (1664, 928)


@pytest.mark.parametrize(
    "text", ["upscale x2 and then sharpen the details", "make it 2x bigger, then brighten it a little"]
)
def test_a_fix_after_an_upscale_edits_the_picture(text: str) -> None:
    ops = [op for op, _ in _steps(text, {"a.png": "image"})]
    assert ops == ["upscale", "edit"]


@pytest.mark.parametrize(
    ("text", "instruction"),
    [
        ("edit with qwen: put a hat on the dog", "put a hat on the dog"),
        ("edit: remove the bin", "remove the bin"),
    ],
)
def test_an_edit_label_is_not_the_instruction(text: str, instruction: str) -> None:
    assert dict(_steps(text, {"a.png": "image"}))["edit"]["instruction"] == instruction


@pytest.mark.parametrize(
    ("text", "prompt"),
    [
        ("a picture of a pizza, size 768x768, then upscale x4", "a pizza"),
        ("a fox, resolution 1024x1024", "a fox"),
    ],
)
def test_a_settings_label_leaves_the_prompt(text: str, prompt: str) -> None:
    assert _steps(text)[0][1]["prompt"] == prompt


@pytest.mark.parametrize("text", ["animate it 5 sec 480p", "animate this", "upscale them"])
def test_a_pronoun_alone_is_no_description(text: str) -> None:
    assert reformat_text(text, {"input_image": "a.png"}).prompt == ""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("two point five seconds of a spinning coin", 2.5), ("a clip of rain, one point five seconds", 1.5)],
)
def test_decimal_number_words(text: str, seconds: float) -> None:
    assert parse_request(text).numbers["duration"] == seconds


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("a video of waves, 4k", "generate_video"),
        ("video 10s: ocean waves crashing on rocks, drone view, 4k", "generate_video"),
        ("a photo of a castle, 8k", "generate_image"),
    ],
)
def test_a_size_word_with_nothing_to_enlarge_is_the_size_made(text: str, op: str) -> None:
    steps = _steps(text)
    assert [o for o, _ in steps] == [op] and steps[0][1]["width"] in (3840, 7680)


def test_a_size_word_with_a_picture_still_upscales() -> None:
    assert [op for op, _ in _steps("upscale to 4k", {"a.png": "image"})] == ["upscale"]


@pytest.mark.parametrize(
    ("text", "prompt"),
    [
        (
            "please i need one video where is a horse running in the field, quality 720p",
            "horse running in the field",
        ),
        ("a picture where there are two cats on a roof", "two cats on a roof"),
        ("a vidoe of a dolphin jumping, 3 sec", "dolphin jumping"),
    ],
)
def test_non_native_phrasing(text: str, prompt: str) -> None:
    assert reformat_text(text).prompt == prompt


@pytest.mark.parametrize("text", ["more big please, 4 times", "make it more big"])
def test_more_big_is_an_upscale(text: str) -> None:
    assert [op for op, _ in _steps(text, {"a.png": "image"})] == ["upscale"]


VERBOSE = (
    "Imagine a quiet fishing village at the blue hour, lanterns reflecting on the water. "
    "I'd love this as a slow, dreamy clip of about seven seconds, in widescreen."
)


def test_a_verbose_creative_request_keeps_only_the_description() -> None:
    prompts = [str(s.params.get("prompt")) for s in PLANNER.plan(VERBOSE, {}).steps]
    assert prompts[0] == "a quiet fishing village at the blue hour, lanterns reflecting on the water"
    for prompt in prompts:
        assert not any(w in prompt.lower() for w in ("imagine", "i'd love", "about", "widescreen")), prompt


@pytest.mark.parametrize(
    "text", ["Imagine a koi pond at dawn, 3 seconds", "picture this: a koi pond at dawn, 3 seconds"]
)
def test_imagine_is_request_phrasing(text: str) -> None:
    assert reformat_text(text).prompt == "koi pond at dawn"
