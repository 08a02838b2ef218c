"""Issue 14, routing on requests nobody has written yet: a ControlNet kind said outright wins over words that
only suggest one and a named family's own ControlNet is used; "variations of this photo" makes new pictures
from the photo's image embedding (SD 2.1 unCLIP), not an edit; "8k", "N times" and truncated typos."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from agents.compose import compose, plan_request
from agents.compose.clauses import correct_typos, tidy_subject
from node_catalog import Catalog
from pipeline import GenerationRequest, Generator


def _classes(workflow: dict[str, Any]) -> set[str]:
    return {str(n["class_type"]) for n in workflow.values()}


def _inputs(workflow: dict[str, Any], cls: str, name: str) -> list[Any]:
    return [n["inputs"][name] for n in workflow.values() if n["class_type"] == cls and name in n["inputs"]]


@pytest.fixture(scope="module")
def generator() -> Generator:
    return Generator(Catalog.bundled())


async def _generate(generator: Generator, prompt: str, image: str | None = None) -> Any:
    overrides = {"input_image": image} if image else {}
    result = await generator.generate(GenerationRequest(prompt=prompt, overrides=overrides))
    assert result.error is None, result.error
    assert result.validation is not None and result.validation["ok"], result.validation
    return result


# -- ControlNet kinds and families ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prompt", "files", "kind"),
    [
        ("a qwen image canny controlnet from this sketch: a castle", ["sketch.png"], "canny"),
        ("a castle, canny controlnet from my doodle", ["doodle.png"], "canny"),
        ("turn my doodle into a realistic photo of a cat, canny please", ["doodle.png"], "canny"),
        ("depth controlnet from this sketch: a cozy cabin", ["sketch.png"], "depth"),
        ("use controlnet depth on room.jpg to make a spaceship bridge", ["room.jpg"], "depth"),
        ("scribble controlnet keeping the edges of lines.png: a dragon", ["lines.png"], "scribble"),
        ("openpose from this drawing: an astronaut", ["drawing.png"], "pose"),
        ("a pose controlnet from my sketch, a ballerina", ["sketch.png"], "pose"),
    ],
)
def test_a_kind_named_outright_wins_over_suggesting_words(prompt: str, files: list[str], kind: str) -> None:
    step = plan_request(prompt, files).steps[0]
    assert step.op == "control"
    assert step.params["kind"] == kind
    assert not step.params.get("kind_guessed")


@pytest.mark.parametrize(
    ("prompt", "files", "prompt_said"),
    [
        (
            "with flux, keep the edges of this photo: a robot in a garden",
            ["photo.png"],
            "a robot in a garden",
        ),
        ("keep the composition of layout.png but make it a jungle, sdxl", ["layout.png"], "a jungle"),
        ("an SDXL picture from my rough drawing of a horse", ["drawing.png"], "a horse"),
        ("CN canny sd1.5: a dragon", ["lines.png"], "a dragon"),
        (
            "Qwen-Image ControlNet (canny) of house.png -> a gingerbread house",
            ["house.png"],
            "a gingerbread house",
        ),
        ("follow the outline of logo.png, neon sign style", ["logo.png"], "neon sign style"),
    ],
)
def test_a_control_prompt_keeps_no_words_its_cues_left(
    prompt: str, files: list[str], prompt_said: str
) -> None:
    assert plan_request(prompt, files).steps[0].params["prompt"] == prompt_said


@pytest.mark.parametrize(
    "prompt",
    [
        "a qwen image canny controlnet from this sketch: a castle",
        "Qwen-Image ControlNet (canny) of sketch.png -> a gingerbread house",
        "from this sketch make a qwen image of a spaceship",  # kind only suggested: Qwen's own (canny)
        "using qwen, keep the outlines of sketch.png, a lighthouse at dusk",
    ],
)
async def test_a_named_family_gets_its_own_controlnet(generator: Generator, prompt: str) -> None:
    result = await _generate(generator, prompt, "sketch.png")
    assert "QwenImageDiffsynthControlnet" in _classes(result.workflow)
    assert result.intent["model_family"] == "qwen-image"


@pytest.mark.parametrize(
    ("prompt", "file"),
    [
        ("sdxl canny controlnet, a futuristic city at dusk", "controlnet-canny-sdxl-1.0.safetensors"),
        ("an SDXL picture from my rough drawing of a horse", "controlnet-canny-sdxl-1.0.safetensors"),
        # a kind said outright that the family has no ControlNet of: the kind wins (SD1.5's)
        ("scribble controlnet with qwen: a sailboat", "control_v11p_sd15_scribble_fp16.safetensors"),
    ],
)
async def test_the_family_decides_the_model_when_it_has_the_kind(
    generator: Generator, prompt: str, file: str
) -> None:
    result = await _generate(generator, prompt, "ref.png")
    assert file in _inputs(result.workflow, "ControlNetLoader", "control_net_name")


# -- variations -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prompt", "batch"),
    [
        ("make variations of this photo", None),
        ("give me 4 variations of this image", 4),
        ("riff on this picture", None),
        ("similar images to this one", None),
        ("can u make like a few variations of this pic", 3),
        ("show me 6 alternative versions of this image", 6),
        ("I love this photo, could you make similar pictures?", None),
        ("generate two variants of the attached picture", 2),
        ("reroll this image", None),
        ("give me four different takes on this photo", 4),
        ("variaciones de esta foto", None),
    ],
)
def test_variations_of_a_picture_are_an_image_prompt_on_unclip(prompt: str, batch: int | None) -> None:
    plan = plan_request(prompt, {"photo.png": "image"})
    assert [s.op for s in plan.steps] == ["style"]
    step = plan.steps[0]
    assert step.family == "sd21_unclip"
    assert step.inputs == {"reference": "photo.png"}
    assert step.params.get("batch") == batch
    assert step.params["prompt"] == ""
    assert any("variations of photo.png" in n for n in plan.notes)


def test_words_after_the_variation_cue_steer_it() -> None:
    plan = plan_request("3 variations of portrait.png but in a warmer palette", ["portrait.png"])
    assert plan.steps[0].params["prompt"] == "in a warmer palette"
    assert plan.steps[0].params["batch"] == 3


async def test_variations_graph_samples_unclip_with_the_batch(generator: Generator) -> None:
    result = await _generate(generator, "give me 4 variations of this image", "photo.png")
    assert {"unCLIPCheckpointLoader", "CLIPVisionEncode", "unCLIPConditioning"} <= _classes(result.workflow)
    assert "TextEncodeQwenImageEditPlus" not in _classes(result.workflow)
    assert _inputs(result.workflow, "EmptyLatentImage", "batch_size") == [4]
    assert result.intent["model_family"] == "sd21-unclip"
    assert result.intent["task"] == "image-to-image"
    assert result.intent["extra_params"]["batch_size"] == 4


def test_without_unclip_variations_fall_back_to_another_image_prompt() -> None:
    text = resources.files("node_catalog").joinpath("data/object_info.json").read_text(encoding="utf-8")
    data = json.loads(text)
    lacking = Catalog.from_object_info({k: v for k, v in data.items() if not k.startswith("unCLIP")})
    plan = plan_request("make 3 variations of this photo", ["photo.png"])
    comp = compose(plan, lacking, files={"photo.png": "image"})
    classes = _classes(comp.workflow)
    assert "unCLIPConditioning" not in classes
    assert "StyleModelApply" in classes  # Flux Redux: new pictures from the photo's image embedding


def test_variations_of_an_earlier_picture_chain_on_it() -> None:
    plan = plan_request("a watercolor of a lighthouse, then give me 3 variations of it")
    assert [s.op for s in plan.steps] == ["generate_image", "style"]
    assert plan.steps[1].inputs == {"reference": "#1"}
    assert plan.steps[1].params["batch"] == 3


async def test_a_count_of_variations_without_a_picture_is_a_batch(generator: Generator) -> None:
    result = await _generate(generator, "4 variations of a logo for a coffee shop")
    assert result.intent["task"] == "text-to-image"
    assert _inputs(result.workflow, "EmptyLatentImage", "batch_size") == [4]


# -- sizes, counts, typos ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prompt", "task", "batch"),
    [
        ("a picture of a cat 4 times", "text-to-image", 4),
        ("an image of a red barn, 3 times please", "text-to-image", 3),
        ("a photo of a red car 5 times", "text-to-image", 5),
        ("draw a hamster, do it 3 times", "text-to-image", 3),
        ("four takes of a lighthouse at night", None, 4),
    ],
)
async def test_a_count_said_as_times_or_takes_is_a_batch(
    generator: Generator, prompt: str, task: str | None, batch: int
) -> None:
    result = await _generate(generator, prompt)
    assert result.intent["extra_params"]["batch_size"] == batch
    assert "times" not in result.intent["prompt"] and "takes" not in result.intent["prompt"]
    if task:
        assert result.intent["task"] == task


@pytest.mark.parametrize("prompt", ["upscale this 4 times", "upscale this 3 times please"])
async def test_a_resize_said_as_times_is_no_batch(generator: Generator, prompt: str) -> None:
    result = await _generate(generator, prompt, "photo.png")
    assert result.intent["task"] == "upscale"
    assert "batch_size" not in (result.intent.get("extra_params") or {})


@pytest.mark.parametrize("prompt", ["a 8k wallpaper of a mountain lake", "8K photo of a snowy mountain"])
async def test_8k_is_a_size_like_4k(generator: Generator, prompt: str) -> None:
    result = await _generate(generator, prompt)
    assert result.intent["task"] == "text-to-image"
    assert (result.intent["width"], result.intent["height"]) == (4096, 2304)  # 7680x4320, clamped
    assert "8k" not in result.intent["prompt"].lower()


@pytest.mark.parametrize(
    ("said", "read"),
    [
        ("a pictur of a dog", "a picture of a dog"),
        ("generat a castle", "generate a castle"),
        ("animat this photo", "animate this photo"),
        ("remov the car", "remove the car"),
        ("a vidoe of waves", "a video of waves"),
        ("animte this", "animate this"),
        ("change the backgroun", "change the background"),
        # real words are never swallowed: a stem that is a word of its own stays
        ("pixel art of a frame", "pixel art of a frame"),
        ("a second smooth take", "a second smooth take"),
        ("a large horizontal vertical style", "a large horizontal vertical style"),
    ],
)
def test_truncated_typos_read_as_their_word(said: str, read: str) -> None:
    assert correct_typos(said) == read


@pytest.mark.parametrize(
    ("prompt", "task"),
    [
        ("a pictur of a dog", "text-to-image"),
        ("a second picture of a bird", "text-to-image"),
        ("draw a hamster", "text-to-image"),
        ("paint me a sunset over the sea", "text-to-image"),
        ("a vidoe of waves", "text-to-video"),
    ],
)
async def test_picture_words_and_typos_route_the_task(generator: Generator, prompt: str, task: str) -> None:
    result = await _generate(generator, prompt)
    assert result.intent["task"] == task


def test_tidy_subject_keeps_the_subject() -> None:
    assert tidy_subject("the Eiffel tower at night") == "the Eiffel tower at night"
    assert tidy_subject("of this photo: a robot") == "a robot"
    assert tidy_subject("a dog following its owner") == "a dog following its owner"


async def test_the_intent_counts_the_pictures_the_graph_makes(generator: Generator) -> None:
    # an edit makes one picture however many were asked: the answer does not promise three
    edit = await _generate(generator, "edit this photo to add a hat, 3 variations", "photo.png")
    assert "TextEncodeQwenImageEditPlus" in _classes(edit.workflow)
    assert "batch_size" not in edit.intent["extra_params"]
    chain = await _generate(generator, "a watercolor of a lighthouse, then give me 3 variations of it")
    assert chain.intent["extra_params"]["batch_size"] == 3
    # the variations of a picture made before come at its size, not unCLIP's 768
    assert _inputs(chain.workflow, "EmptyLatentImage", "width") == [1024, 1024]


@pytest.mark.parametrize(
    ("prompt", "batch"),
    [
        ("want 5 diff versions of this", 5),
        ("could you spin up some alternatives to this pic?", None),
        ("Make a photo like this one but different", None),
        ("similar to this but in winter", None),
    ],
)
def test_casual_variation_asks(prompt: str, batch: int | None) -> None:
    step = plan_request(prompt, {"photo.png": "image"}).steps[0]
    assert (step.op, step.family, step.params.get("batch")) == ("style", "sd21_unclip", batch)


@pytest.mark.parametrize(
    ("prompt", "said"),
    [
        (
            "Please generate an image that follows the depth of room.png: a medieval tavern",
            "a medieval tavern",
        ),
        ("controlnet: canny, image: ref.png, prompt: a steampunk airship", "a steampunk airship"),
        ("controlnet=canny, model=qwen, prompt=a glass teapot", "a glass teapot"),
    ],
)
def test_control_prompts_said_as_fields(prompt: str, said: str) -> None:
    assert plan_request(prompt, ["ref.png"]).steps[0].params["prompt"] == said


async def test_a_named_family_serves_an_edge_map_with_its_own_detector(generator: Generator) -> None:
    result = await _generate(generator, "a sdxl canny from edges.png: a red sports car", "edges.png")
    assert "controlnet-canny-sdxl-1.0.safetensors" in _inputs(
        result.workflow, "ControlNetLoader", "control_net_name"
    )


@pytest.mark.parametrize(
    ("prompt", "kind", "said"),
    [
        ("a depth-guided render of room.png as a cyberpunk bar", "depth", "a cyberpunk bar"),
        ("canny-guided: a neon tiger from tiger.png", "canny", "a neon tiger"),
        ("line art of tiger.png turned into a colorful painting", "canny", "a colorful painting"),
        ("control image: pose.png, a superhero landing", "pose", "a superhero landing"),
        (
            "use the edges of building.jpg for a sdxl image of a glass skyscraper",
            "canny",
            "a glass skyscraper",
        ),
    ],
)
def test_guided_and_labelled_control_asks(prompt: str, kind: str, said: str) -> None:
    step = plan_request(prompt, ["ref.png"]).steps[0]
    assert (step.op, step.params["kind"], step.params["prompt"]) == ("control", kind, said)


@pytest.mark.parametrize(
    ("prompt", "batch", "said"),
    [
        ("Hazme 3 variaciones de esta imagen", 3, ""),
        ("fais des variantes de cette photo", None, ""),
        ("Erstelle Variationen von diesem Bild", None, ""),
        ("VARIATIONS OF THIS PHOTO!!!", None, ""),
        ("similar vibe to this photo but a city at night", None, "a city at night"),
    ],
)
def test_variations_in_other_languages_and_shouts(prompt: str, batch: int | None, said: str) -> None:
    step = plan_request(prompt, {"photo.png": "image"}).steps[0]
    assert (step.op, step.params.get("batch"), step.params["prompt"]) == ("style", batch, said)


@pytest.mark.parametrize(
    ("prompt", "batch"),
    [("render a tiger twice", 2), ("an image of a wizard, 3 times, 16:9", 3)],
)
async def test_twice_and_times_before_a_setting(generator: Generator, prompt: str, batch: int) -> None:
    result = await _generate(generator, prompt)
    assert result.intent["extra_params"]["batch_size"] == batch
    assert "twice" not in result.intent["prompt"] and "times" not in result.intent["prompt"]


async def test_upscale_twice_is_no_batch(generator: Generator) -> None:
    result = await _generate(generator, "upscale this twice", "photo.png")
    assert "batch_size" not in (result.intent.get("extra_params") or {})


def test_without_any_image_prompt_model_variations_are_an_img2img() -> None:
    from agents.flow import VARIATION_DENOISE, image_prompt_fallback

    text = resources.files("node_catalog").joinpath("data/object_info.json").read_text(encoding="utf-8")
    data = json.loads(text)
    bare = Catalog.from_object_info(
        {k: v for k, v in data.items() if not k.startswith("unCLIP") and k != "StyleModelApply"}
    )
    plan = plan_request("3 variations of this photo but at night", ["photo.png"])
    fallen, notes = image_prompt_fallback(plan, bare)
    step = fallen.steps[0]
    assert (step.op, step.inputs, step.params["denoise"]) == (
        "restyle",
        {"image": "photo.png"},
        VARIATION_DENOISE,
    )
    assert step.params["prompt"] == "at night"
    assert notes and "img2img" in notes[0]
    comp = compose(fallen, bare, files={"photo.png": "image"})
    assert "VAEEncode" in _classes(comp.workflow)
    # a backend with an image-prompt model keeps the plan
    assert image_prompt_fallback(plan, Catalog.bundled()) == (plan, [])


@pytest.mark.parametrize(
    ("prompt", "op", "said"),
    [
        ("contrlnet canny from a.png: a tiger", "control", "a tiger"),
        ("controllnet depth, a.png, a forest temple", "control", "a forest temple"),
        ("Make it with SDXL + Canny from a.png: a white cat on a sofa", "control", "a white cat on a sofa"),
        ("give me 3 varations of this photo", "style", ""),
        ("variatons of this pic", "style", ""),
    ],
)
def test_misspelt_controlnet_and_variations(prompt: str, op: str, said: str) -> None:
    step = plan_request(prompt, ["a.png"]).steps[0]
    assert (step.op, step.params["prompt"]) == (op, said)


def test_labels_and_keep_words_leave_no_trace() -> None:
    step = plan_request(
        "I need the depth of room.png kept, sdxl please, a futuristic lab", ["room.png"]
    ).steps[0]
    assert (step.op, step.params["prompt"], step.family) == ("control", "a futuristic lab", "sdxl")
    edit = plan_request("qwen image edit: make the sky purple", ["photo.png"]).steps[0]
    assert (edit.op, edit.params["instruction"], edit.family) == ("edit", "make the sky purple", "qwen_image")


@pytest.mark.parametrize(
    "prompt",
    [
        'Generate with Qwen-Image: canny control from ref.png, prompt "a cozy reading nook", 1328x1328',
        'canny controlnet, ref.png, prompt: "a cozy reading nook"',
    ],
)
def test_a_quoted_control_prompt_said_as_a_field(prompt: str) -> None:
    assert plan_request(prompt, ["ref.png"]).steps[0].params["prompt"] == "a cozy reading nook"


async def test_a_scribble_named_as_the_reference_lets_the_family_choose(generator: Generator) -> None:
    # "scribble of a house" names what the reference is (like "sketch"), not a ControlNet kind
    prompt = "scribble of a house (house.png) into a qwen image of a cottage"
    step = plan_request(prompt, ["house.png"]).steps[0]
    assert (step.params["prompt"], step.params.get("kind_guessed")) == ("a cottage", True)
    result = await _generate(generator, prompt, "house.png")
    assert "QwenImageDiffsynthControlnet" in _classes(result.workflow)


@pytest.mark.parametrize(
    ("prompt", "task"),
    [
        ("sunset over tokyo, 2 variations", "text-to-image"),
        ("a video with 3 variations of a dancing robot", "text-to-video"),
        ("3 variations of a dancing robot, 5 seconds", "text-to-video"),
    ],
)
async def test_variations_without_a_medium_are_pictures(generator: Generator, prompt: str, task: str) -> None:
    result = await _generate(generator, prompt)
    assert result.intent["task"] == task
    assert result.intent["extra_params"]["batch_size"] > 1


@pytest.mark.parametrize("prompt", ["8k uhd landscape of iceland, a picture", "a 4K UHD photo of a fox"])
async def test_a_size_said_twice_leaves_the_prompt(generator: Generator, prompt: str) -> None:
    result = await _generate(generator, prompt)
    assert "uhd" not in result.intent["prompt"].lower()
