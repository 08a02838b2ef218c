"""The planner end to end with no network: 70 varied requests (video-heavy) -> a valid graph whose values
match the request."""

from __future__ import annotations

from typing import Any

import pytest

from node_catalog import Catalog
from pipeline import GenerationRequest, Generator

# (prompt, expected template, {(class_type, input): value}, substrings the positive prompt must contain)
CASES: list[tuple[str, str, dict[tuple[str, str], Any], list[str]]] = [
    # text to video: durations, units, number words, fps
    (
        "a cat surfing, 3 seconds, 720p",
        "hunyuan_t2v",
        {
            ("EmptyHunyuanLatentVideo", "width"): 1280,
            ("EmptyHunyuanLatentVideo", "height"): 720,
            ("EmptyHunyuanLatentVideo", "length"): 73,
        },
        ["cat surfing"],
    ),
    (
        "a red fox running through snow, 5s",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 121},
        ["red fox"],
    ),
    (
        "waves crashing on rocks, 2.5 sec",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 61},
        ["waves"],
    ),
    (
        "five seconds of a hummingbird drinking nectar",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 121},
        ["hummingbird"],
    ),
    (
        "two and a half seconds of rain on a window, 480p",
        "hunyuan_t2v",
        {
            ("EmptyHunyuanLatentVideo", "length"): 61,
            ("EmptyHunyuanLatentVideo", "width"): 848,
            ("EmptyHunyuanLatentVideo", "height"): 480,
        },
        ["rain"],
    ),
    (
        "120 frames of a drone shot over a forest",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 121},
        ["drone shot"],
    ),
    (
        "a timelapse of clouds over mountains, 4 seconds at 30 fps",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 121, ("CreateVideo", "fps"): 30.0},
        ["clouds"],
    ),
    (
        "a city street at night in the rain, 3 seconds, 12fps",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 37, ("CreateVideo", "fps"): 12.0},
        ["city street"],
    ),
    (
        "a short clip of a dog catching a frisbee",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 73},
        ["dog catching"],
    ),
    (
        "a video of a spaceship landing on mars, ten seconds",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 241},
        ["spaceship"],
    ),
    (
        "a 6-second video of a chef flipping pancakes",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 145},
        ["chef"],
    ),
    (
        "make a video of a sailboat at sunset lasting 1 minute at 8 fps",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 481, ("CreateVideo", "fps"): 8.0},
        ["sailboat"],
    ),
    (
        "a couple of seconds of fireworks over a lake",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 49},
        ["fireworks"],
    ),
    (
        "81 frames of a jellyfish drifting in deep blue water",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 81},
        ["jellyfish"],
    ),
    (
        "a horse galloping on a beach, length: 49",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 49},
        ["horse galloping"],
    ),
    # resolutions and aspect ratios
    (
        "a skateboarder doing a kickflip, vertical, 3 seconds",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "width"): 480, ("EmptyHunyuanLatentVideo", "height"): 848},
        ["skateboarder"],
    ),
    (
        "a lighthouse in a storm, 16:9, 1080p",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "width"): 1920, ("EmptyHunyuanLatentVideo", "height"): 1088},
        ["lighthouse"],
    ),
    (
        "a portrait video of a dancer spinning, 9:16 720p",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "width"): 720, ("EmptyHunyuanLatentVideo", "height"): 1280},
        ["dancer"],
    ),
    (
        "a square video of a rotating coffee cup",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "width"): 640, ("EmptyHunyuanLatentVideo", "height"): 640},
        ["coffee cup"],
    ),
    (
        "a vintage car driving down route 66, 1280x720",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "width"): 1280, ("EmptyHunyuanLatentVideo", "height"): 720},
        ["vintage car"],
    ),
    (
        "underwater coral reef with fish, 1000x560",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "width"): 1008, ("EmptyHunyuanLatentVideo", "height"): 560},
        ["coral reef"],
    ),
    (
        "a panda eating bamboo in 4:3, 2 seconds",
        "hunyuan_t2v",
        {
            ("EmptyHunyuanLatentVideo", "width"): 736,
            ("EmptyHunyuanLatentVideo", "height"): 560,
            ("EmptyHunyuanLatentVideo", "length"): 49,
        },
        ["panda"],
    ),
    (
        "an aerial view of a desert highway, widescreen 720p",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "width"): 1280},
        ["desert highway"],
    ),
    (
        "a candle flickering in the dark, 540p",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "height"): 544},
        ["candle"],
    ),
    (
        "a snail crawling on a leaf, 512x512",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "width"): 512, ("EmptyHunyuanLatentVideo", "height"): 512},
        ["snail"],
    ),
    # sampler settings
    (
        "a knight riding through fog, seed 42, 30 steps",
        "hunyuan_t2v",
        {("RandomNoise", "noise_seed"): 42, ("BasicScheduler", "steps"): 30},
        ["knight"],
    ),
    (
        "an astronaut floating in space, guidance 8.5, seed=7",
        "hunyuan_t2v",
        {("FluxGuidance", "guidance"): 8.5, ("RandomNoise", "noise_seed"): 7},
        ["astronaut"],
    ),
    ("a robot walking in a factory, steps: 12", "hunyuan_t2v", {("BasicScheduler", "steps"): 12}, ["robot"]),
    (
        "a field of sunflowers swaying, cfg 4",
        "hunyuan_t2v",
        {("FluxGuidance", "guidance"): 4.0},
        ["sunflowers"],
    ),
    # styles and negatives
    (
        "a samurai duel in the rain, cinematic, 4 seconds",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 97},
        ["samurai duel", "cinematic"],
    ),
    (
        "a magical forest with glowing mushrooms, anime style",
        "hunyuan_t2v",
        {},
        ["glowing mushrooms", "anime"],
    ),
    (
        "a train crossing a bridge in watercolor style, 3s",
        "hunyuan_t2v",
        {},
        ["train crossing", "watercolor"],
    ),
    (
        "a cyberpunk city with flying cars, 720p, 5 seconds",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 121},
        ["flying cars", "cyberpunk"],
    ),
    (
        "a child blowing bubbles in a park, photorealistic, without text",
        "hunyuan_t2v",
        {},
        ["child blowing bubbles", "photorealistic"],
    ),
    (
        "hunyuan video of a penguin sliding on ice, 2 seconds",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 49},
        ["penguin"],
    ),
    ("Please generate a clip of northern lights over a frozen lake", "hunyuan_t2v", {}, ["northern lights"]),
    (
        "I want a video showing bees on a honeycomb at 24fps",
        "hunyuan_t2v",
        {("CreateVideo", "fps"): 24.0},
        ["bees"],
    ),
    (
        "slow motion water droplet splashing, 3 seconds, 60 fps",
        "hunyuan_t2v",
        {("CreateVideo", "fps"): 60.0, ("EmptyHunyuanLatentVideo", "length"): 181},
        ["water droplet"],
    ),
    (
        "a steam train puffing through the countryside in 1.5 seconds",
        "hunyuan_t2v",
        {("EmptyHunyuanLatentVideo", "length"): 37},
        ["steam train"],
    ),
    (
        "a bustling market in marrakech, 3 sec, 848x480, seed 1234",
        "hunyuan_t2v",
        {("RandomNoise", "noise_seed"): 1234, ("EmptyHunyuanLatentVideo", "width"): 848},
        ["market"],
    ),
    # image to video
    (
        "animate photo.png into a 4 second clip",
        "hunyuan_i2v",
        {("LoadImage", "image"): "photo.png", ("HunyuanImageToVideo", "length"): 97},
        [],
    ),
    (
        "make portrait.jpg move, the woman smiles and turns her head, 3 seconds",
        "hunyuan_i2v",
        {("LoadImage", "image"): "portrait.jpg", ("HunyuanImageToVideo", "length"): 73},
        ["woman smiles"],
    ),
    (
        "image to video: landscape.webp, clouds drifting, 720p",
        "hunyuan_i2v",
        {("LoadImage", "image"): "landscape.webp", ("HunyuanImageToVideo", "width"): 1280},
        ["clouds drifting"],
    ),
    (
        "bring cat.png to life, the cat yawns, vertical",
        "hunyuan_i2v",
        {("LoadImage", "image"): "cat.png", ("HunyuanImageToVideo", "height"): 848},
        ["cat yawns"],
    ),
    (
        "a 2 second video from input/ref_01.png where the camera pans left, seed 9",
        "hunyuan_i2v",
        {
            ("LoadImage", "image"): "input/ref_01.png",
            ("RandomNoise", "noise_seed"): 9,
            ("HunyuanImageToVideo", "length"): 49,
        },
        ["camera pans left"],
    ),
    # video to video
    ("restyle clip.mp4 as an anime", "hunyuan_v2v", {("LoadVideo", "file"): "clip.mp4"}, ["anime"]),
    (
        "video-to-video on street.webm: make it look like a watercolor painting, denoise 0.5",
        "hunyuan_v2v",
        {("LoadVideo", "file"): "street.webm", ("BasicScheduler", "denoise"): 0.5},
        ["watercolor"],
    ),
    # test videos and images (model-free)
    (
        "make a 2-second test video of solid red frames",
        "test_video",
        {("EmptyImage", "color"): 0xFF0000, ("RepeatImageBatch", "amount"): 48},
        [],
    ),
    (
        "a blue test video, 3 seconds at 10 fps",
        "test_video",
        {("EmptyImage", "color"): 0x0000FF, ("RepeatImageBatch", "amount"): 30, ("CreateVideo", "fps"): 10.0},
        [],
    ),
    (
        "placeholder video with solid green frames, 64x64, 8 frames",
        "test_video",
        {("EmptyImage", "color"): 0x00FF00, ("EmptyImage", "width"): 64, ("RepeatImageBatch", "amount"): 8},
        [],
    ),
    (
        "dummy video, colour #336699, 1 second",
        "test_video",
        {("EmptyImage", "color"): 0x336699, ("RepeatImageBatch", "amount"): 24},
        [],
    ),
    (
        "a model-free test clip, black frames, 12 frames at 6fps",
        "test_video",
        {("EmptyImage", "color"): 0, ("RepeatImageBatch", "amount"): 12, ("CreateVideo", "fps"): 6.0},
        [],
    ),
    (
        "test video of white frames in 720p, 2s",
        "test_video",
        {("EmptyImage", "color"): 0xFFFFFF, ("EmptyImage", "width"): 1280, ("EmptyImage", "height"): 720},
        [],
    ),
    (
        "make a test image, solid yellow, 256x128",
        "test_image",
        {("EmptyImage", "color"): 0xFFFF00, ("EmptyImage", "width"): 256, ("EmptyImage", "height"): 128},
        [],
    ),
    ("a blank test image", "test_image", {("EmptyImage", "color"): 0}, []),
    # text to image
    (
        "an SDXL image of a castle on a hill, square, 30 steps, cfg 6.5",
        "sdxl_t2i",
        {("KSampler", "steps"): 30, ("KSampler", "cfg"): 6.5, ("EmptyLatentImage", "width"): 1024},
        ["castle"],
    ),
    ("a photo of a red sports car, seed 5", "sdxl_t2i", {("KSampler", "seed"): 5}, ["red sports car"]),
    (
        "a poster of a jazz festival, 768x1024",
        "sdxl_t2i",
        {("EmptyLatentImage", "width"): 768, ("EmptyLatentImage", "height"): 1024},
        ["jazz festival"],
    ),
    ("an illustration of a dragon, without wings", "sdxl_t2i", {}, ["dragon"]),
    (
        "a picture of a mountain lake using sd1.5",
        "sd15_t2i",
        {("EmptyLatentImage", "width"): 512},
        ["mountain lake"],
    ),
    (
        "stable diffusion 1.5 image of a teddy bear, 20 steps, 640x480",
        "sd15_t2i",
        {("KSampler", "steps"): 20, ("EmptyLatentImage", "width"): 640, ("EmptyLatentImage", "height"): 480},
        ["teddy bear"],
    ),
    (
        "a flux image of a neon sign that says open, guidance 3",
        "flux_t2i",
        {("FluxGuidance", "guidance"): 3.0},
        ["neon sign"],
    ),
    (
        "flux: a portrait of an old fisherman, vertical",
        "flux_t2i",
        {("EmptySD3LatentImage", "width"): 768, ("EmptySD3LatentImage", "height"): 1360},
        ["old fisherman"],
    ),
    (
        "a wallpaper of a galaxy in 16:9",
        "sdxl_t2i",
        {("EmptyLatentImage", "width"): 1360, ("EmptyLatentImage", "height"): 768},
        ["galaxy"],
    ),
    (
        "a hunyuan image of a lighthouse at dawn, seed 3",
        "hunyuan_t2i",
        {
            ("EmptyHunyuanLatentVideo", "length"): 1,
            ("EmptyHunyuanLatentVideo", "width"): 1280,
            ("RandomNoise", "noise_seed"): 3,
        },
        ["lighthouse"],
    ),
    # image to image and upscale
    (
        "restyle this photo room.png as an oil painting",
        "sd_i2i",
        {("LoadImage", "image"): "room.png"},
        ["oil painting"],
    ),
    (
        "img2img sketch.png into a colorful cartoon, strength 0.7",
        "sd_i2i",
        {("LoadImage", "image"): "sketch.png", ("KSampler", "denoise"): 0.7},
        ["cartoon"],
    ),
    (
        "upscale cat.png by 4x",
        "upscale_resample",
        {("LoadImage", "image"): "cat.png", ("ImageScaleBy", "scale_by"): 4.0},
        [],
    ),
    ("please upscale holiday.jpg 2x", "upscale_resample", {("ImageScaleBy", "scale_by"): 2.0}, []),
    ("enlarge logo.png by a factor of 3", "upscale_resample", {("ImageScaleBy", "scale_by"): 3.0}, []),
    ("super-resolution for scan.jpeg", "upscale_resample", {("LoadImage", "image"): "scan.jpeg"}, []),
]


def _values(workflow: dict[str, Any], class_type: str, name: str) -> list[Any]:
    return [
        n["inputs"][name] for n in workflow.values() if n["class_type"] == class_type and name in n["inputs"]
    ]


@pytest.fixture(scope="module")
def generator() -> Generator:
    return Generator(Catalog.bundled())


def test_enough_cases() -> None:
    assert len(CASES) >= 60
    assert sum(1 for c in CASES if c[1].startswith(("hunyuan", "test_video"))) >= 40


@pytest.mark.parametrize(("prompt", "template", "expected", "words"), CASES, ids=[c[0][:40] for c in CASES])
async def test_planner_request(
    generator: Generator, prompt: str, template: str, expected: dict[tuple[str, str], Any], words: list[str]
) -> None:
    result = await generator.generate(GenerationRequest(prompt=prompt))
    assert result.error is None, result.error
    assert result.validation is not None and result.validation["ok"], result.validation
    assert result.template == template
    workflow = result.workflow
    assert workflow is not None
    for (class_type, name), value in expected.items():
        found = _values(workflow, class_type, name)
        assert found, f"{class_type}.{name} missing"
        assert all(v == value for v in found), f"{class_type}.{name}: {found} != {value}"
    positive = " ".join(
        str(v)
        for cls, inp in (("CLIPTextEncode", "text"), ("TextEncodeHunyuanVideo_ImageToVideo", "prompt"))
        for v in _values(workflow, cls, inp)
    ).lower()
    for word in words:
        assert word.lower() in positive, f"{word!r} not in prompts {positive!r}"
    assert [s["agent"] for s in result.steps] == ["reformat", "flow", "refine", "validate"]
    intent = result.intent or {}
    if intent.get("model_family") == "hunyuan-video" and intent.get("frames"):
        assert (intent["frames"] - 1) % 4 == 0
    for cls in ("EmptyHunyuanLatentVideo", "HunyuanImageToVideo"):
        for dim in ("width", "height"):
            assert all(v % 16 == 0 for v in _values(workflow, cls, dim))
