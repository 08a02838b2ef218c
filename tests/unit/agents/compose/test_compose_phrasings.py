"""Phrasings written after the vocabulary (other users, other words): operations composed or refused."""

from __future__ import annotations

from typing import Any

import pytest

from agents.compose import MissingCapability, compose_request
from node_catalog import Catalog

CATALOG = Catalog.bundled()
OTHER_PHRASINGS: list[tuple[str, dict[str, str], Any]] = [
    ("Could you wipe out the graffiti on the wall in wall.jpg?", {"wall.jpg": "image"}, ["edit"]),
    ("I'd like the bicycle gone from this shot", {"shot.png": "image"}, ["edit"]),
    ("photoshop a rainbow into the sky", {"sky.png": "image"}, ["edit"]),
    ("swap his blue shirt for a red hoodie please", {"boy.png": "image"}, ["edit"]),
    ("make the lighting warmer and golden-hour like", {"room.png": "image"}, ["edit"]),
    ("Stretch the canvas 400px to the right and fill it with more ocean", {"sea.png": "image"}, ["outpaint"]),
    ("add more space above the head, ~150 pixels", {"head.png": "image"}, ["outpaint"]),
    (
        "convert this square photo to a 16:9 landscape by extending the sides",
        {"sq.png": "image"},
        ["outpaint"],
    ),
    ("boost the resolution 4x", {"a.png": "image"}, ["upscale"]),
    ("I need a hi-res version of logo.png, like 3x", {}, ["upscale"]),
    ("upscale to 1920x1080", {"a.png": "image"}, ["upscale"]),
    (
        "a wolf howling at the moon -> upscale x2 -> animate 3s",
        {},
        ["generate_image", "upscale", "image_to_video"],
    ),
    ("generate: a lantern festival. next: make it 2x larger", {}, ["generate_image", "upscale"]),
    (
        "picture of a puffin on a cliff, then a 4-second animation of it",
        {},
        ["generate_image", "image_to_video"],
    ),
    ("Create a 2s clip from still.jpg where the clouds drift", {}, ["image_to_video"]),
    ("make the waterfall in falls.png flow", {}, ["image_to_video"]),
    ("give me a looping animation of flag.png waving", {}, ["image_to_video"]),
    ("a snowy owl drawn like reference.png", {}, ["style"]),
    ("use the colour palette and brushwork of vangogh_ref.jpg for a picture of a tram", {}, ["style"]),
    ("render a bridge, mimic the look of mood.png", {}, ["style"]),
    ("generate a tiger, keep the exact composition of comp.png", {}, ["control"]),
    ("from my rough sketch doodle.png make a polished illustration of a spaceship", {}, ["control"]),
    ("edges from building.jpg -> a gingerbread house", {}, ["control"]),
    ("re-render vid.mp4 as a charcoal drawing", {}, ["video_to_video"]),
    ("make vid.mp4 look like it was shot on 8mm film", {}, ["video_to_video"]),
    ("merge one.mp4 with two.mp4", {}, ["join"]),
    ("put clip_a.mp4 and clip_b.mp4 back to back", {}, ["join"]),
    ("upres my video 2x", {"v.mp4": "video"}, ["upscale"]),
    ('poster for a rock concert, big title text "THUNDER ROAD"', {}, ["render_text"]),
    ('a mug with "World\'s Best Dad" printed on it', {}, ["render_text"]),
    ("inpaint: a golden retriever", {"floor.png": "image", "floor_mask.png": "mask"}, ["inpaint"]),
    ("fill in the area I masked with ivy", {"wall.png": "image", "m.png": "mask"}, ["inpaint"]),
    ("a scenic lake with my lakeside lora, 0.6 strength", {}, ["lora", "generate_image"]),
    (
        "Make me a frog wizard. After that, extend the bottom by 256 px. Lastly, upscale 2x.",
        {},
        ["generate_image", "outpaint", "upscale"],
    ),
    (
        "remove the boat, widen by 200px on the left, and animate it",
        {"bay.png": "image"},
        ["edit", "outpaint", "image_to_video"],
    ),
    ("erase the text from banner.png and then write 'GRAND OPENING' on it", {}, ["edit", "render_text"]),
    ("make it smoother, 2x frames", {"v.mp4": "video"}, "refuse"),
    ("remove the background and leave only the shoe as a cutout", {"shoe.png": "image"}, "refuse"),
    ("detail the faces in the crowd photo", {"crowd.png": "image"}, "refuse"),
    ("a boxer matching the pose in pose_ref.png", {}, "refuse"),
    ("make a portrait of a queen and then make her smile", {}, ["generate_image", "edit"]),
    ("a foggy pier at dawn", {}, ["generate_image"]),
    ("an eight second video of a train crossing a bridge in the alps", {}, ["generate_video"]),
    ("upscale it", {"small.png": "image"}, ["upscale"]),
    ("Turn photo.jpg into a pencil sketch", {}, ["restyle"]),  # a whole-picture restyle (was edit)
    # a second batch, measured before any change for it (36/40), then fixed in the vocabulary
    ("lose the sunglasses", {"me.png": "image"}, ["edit"]),
    (
        "Hi! I have holiday.jpg - could you please remove my ex from it and then make it bigger by 2 times? "
        "Cheers",
        {},
        ["edit", "upscale"],
    ),
    ("colourise this black and white photograph", {"bw.png": "image"}, ["edit"]),
    ("give the building in city.png a green roof", {}, ["edit"]),
    ("outpaint left 200", {"a.png": "image"}, ["outpaint"]),
    ("I want the image extended downwards by 300 pixels", {"a.png": "image"}, ["outpaint"]),
    (
        "turn the portrait format pic into a wide banner by outpainting both sides",
        {"p.png": "image"},
        ["outpaint"],
    ),
    ("scale up 2x", {"a.png": "image"}, ["upscale"]),
    ("make a 4K version", {"a.png": "image"}, ["upscale"]),
    ("enhance resolution to 3840 px wide", {"a.png": "image"}, ["upscale"]),
    ("a koala in a eucalyptus tree, upscaled to 2048 px", {}, ["generate_image", "upscale"]),
    (
        "generate an otter holding a shell and animate it into a 3s video",
        {},
        ["generate_image", "image_to_video"],
    ),
    ("make my photo move, like a live photo", {"selfie.jpg": "image"}, ["image_to_video"]),
    ("animate the clouds in sky.jpg for 6 seconds", {}, ["image_to_video"]),
    ("create a short video of a hummingbird at a flower", {}, ["generate_video"]),
    ("do a video to video pass on race.mp4 making it look like a watercolour", {}, ["video_to_video"]),
    ("keep the motion of dance.mp4 but make the dancer a robot", {}, ["video_to_video"]),
    ("upscale the clip 2x then join it with credits.mp4", {"main.mp4": "video"}, ["upscale", "join"]),
    ("glue intro.mp4 and body.mp4 together", {}, ["join"]),
    ("painting of a fox in the same style as sample.png", {}, ["style"]),
    ("a harbour at night, take the style from style_image.png", {}, ["style"]),
    ("generate a dragon using canny edges from dragon_lines.png", {}, ["control"]),
    ("use depth from interior.png to generate a spaceship cabin", {}, ["control"]),
    ('T-shirt design with the slogan "STAY WEIRD"', {}, ["render_text"]),
    ('a street sign that reads "Elm St"', {}, ["render_text"]),
    ("inpaint the masked hole with bricks", {"w.png": "image", "w_mask.png": "mask"}, ["inpaint"]),
    ("repaint the masked part as water", {"w.png": "image", "mask.png": "mask"}, ["inpaint"]),
    ("a magical forest with fairy_lights lora", {}, ["lora", "generate_image"]),
    ("lora: retro_anime, strength 0.9. A girl on a bicycle.", {}, ["lora", "generate_image"]),
    (
        "Generate a castle, make it winter, widen it 256px each side, upscale 2x",
        {},
        ["generate_image", "edit", "outpaint", "upscale"],
    ),
    (
        "take the jacket off the man, then animate him walking",
        {"man.png": "image"},
        ["edit", "image_to_video"],
    ),
    ("frame-interpolate movie.mp4 to 60fps", {}, "refuse"),
    ("face restoration on old.jpg", {}, "refuse"),
    ("remove bg, transparent png", {"item.png": "image"}, "refuse"),
    ("openpose from athlete.png and make a knight in that stance", {}, "refuse"),
    ("a watercolor of a cat", {}, ["generate_image"]),
    ("A 5 sec clip of fireworks over sydney harbour", {}, ["generate_video"]),
    ("Erase the people, please.", {"beach.png": "image"}, ["edit"]),
    ("widen it", {"x.png": "image"}, ["outpaint"]),
    ("upscale my sketch.png 2x", {}, ["upscale"]),
    # a third batch, measured before any change for it (25/30)
    ("scrub the date stamp off the bottom corner", {"p.jpg": "image"}, ["edit"]),
    ("could the sofa be leather instead?", {"lounge.png": "image"}, ["edit"]),
    ("pop a rubber duck in the bathtub", {"bath.png": "image"}, ["edit"]),
    ("give me 300 more pixels of beach on the left side", {"beach.png": "image"}, ["outpaint"]),
    ("extend the scene downward, show the feet", {"body.png": "image"}, ["outpaint"]),
    ("I need this at double resolution for print", {"art.png": "image"}, ["upscale"]),
    ("quadruple the size of icon.png", {}, ["upscale"]),
    ("render a misty fjord. afterwards, bump it up to 4k", {}, ["generate_image", "upscale"]),
    ("animate the portrait so she blinks", {"girl.png": "image"}, ["image_to_video"]),
    (
        "a photo of a lighthouse in a storm, and make a 4s clip out of it",
        {},
        ["generate_image", "image_to_video"],
    ),
    ("video: timelapse of a flower blooming, 6 seconds", {}, ["generate_video"]),
    ("do the same moves as in moves.mp4 but as a marble statue", {}, ["video_to_video"]),
    ("stitch together scene1.mp4 scene2.mp4 scene3.mp4", {}, ["join"]),
    ("in the style of hokusai_wave.png, paint a modern harbour", {}, ["style"]),
    ("use style_ref.jpg as the style reference for a portrait of an owl", {}, ["style"]),
    ("with the layout of floorplan.png, generate a cozy living room", {}, ["control"]),
    ('a comic cover that reads "ISSUE #1"', {}, ["render_text"]),
    ("inpaint with a stone path", {"g.png": "image", "g_mask.png": "mask"}, ["inpaint"]),
    ("apply my watercolor_v2 lora to a picture of a heron", {}, ["lora", "generate_image"]),
    (
        "generate a vase of tulips, then turn the tulips yellow, then make it into a 3 second video",
        {},
        ["generate_image", "edit", "image_to_video"],
    ),
    (
        "widen by 256px, remove the lamp, then upscale to 2048 wide",
        {"x.png": "image"},
        ["outpaint", "edit", "upscale"],
    ),
    ("add more in-between frames to choppy.mp4", {}, "refuse"),
    ("background removal for product.png please", {}, "refuse"),
    ("restore the faces in this old family photo", {"fam.png": "image"}, "refuse"),
    ("generate a chef pose-matched to chef_pose.jpg", {}, "refuse"),
    ("a koi fish, sdxl, 1024x1024", {}, ["generate_image"]),
    ("upscale then animate", {"s.png": "image"}, ["upscale", "image_to_video"]),
    ("make a gif of a dancing robot", {}, ["generate_video"]),
    ("erase the sign, then write 'CLOSED' on the door", {"shop.png": "image"}, ["edit", "render_text"]),
    ("expand to a wider 21:9 shot", {"s.png": "image"}, ["outpaint"]),
    # more of a given picture beyond its edges, without the word outpaint (issue 11 holdout misses)
    ("give beach.jpg more sand and sea on both sides", {}, ["outpaint"]),
    ("I want to see what's beyond the edges of this photo", {"p.png": "image"}, ["outpaint"]),
    ("show more sky above the mountain in alps.png", {}, ["outpaint"]),
    ("a portrait of a woman with more light on the left", {}, ["generate_image"]),
    # a mask file beside the picture: the change happens inside it
    ("paint a hot air balloon into the white region of sky_mask.png on sky.png", {}, ["inpaint"]),
    ("get rid of whatever is under mask.png in kitchen.jpg", {}, ["inpaint"]),
    ("kitchen.jpg + kitchen_mask.png: a marble countertop", {}, ["inpaint"]),
    ("remove the sign", {"street.png": "image", "street_mask.png": "mask"}, ["inpaint"]),
    ("remove the sign from street.png", {}, ["edit"]),
    # text onto a picture given as an input field, not a new picture with the text
    ('add the text "SALE" to it', {"shop.png": "image"}, ["render_text"]),
    ('put a caption saying "hello world" at the bottom', {"a.png": "image"}, ["render_text"]),
    # something placed beside a thing inside the picture is an edit; more of the picture is an outpaint
    ("add lamps on both sides of the door in house.png", {}, ["edit"]),
    ("add more trees on the left of the house in yard.png", {}, ["edit"]),
    ("put curtains on the sides of the window in room.png", {}, ["edit"]),
    ("make landscape.png 16:9 by adding scenery to the sides", {}, ["outpaint"]),
    ("photo.png needs more headroom", {}, ["outpaint"]),
    ("add room on the right of photo.png", {}, ["outpaint"]),
    # other languages ask for an upscale too
    ("foto.jpg vergrößern 2x", {}, ["upscale"]),
    ("agrandir photo.png par 2", {}, ["upscale"]),
    ("ampliar foto.png 4x", {}, ["upscale"]),
    ("увеличить photo.png в 2 раза", {}, ["upscale"]),
    ("把 photo.png 放大 2 倍", {}, ["upscale"]),
    # a second, new output is generated; "it", "the fox" animate the step before
    ("make a picture of a dog and a video of a cat", {}, ["generate_image", "generate_video"]),
    ("generate a castle, then a clip of a dragon flying", {}, ["generate_image", "generate_video"]),
    ("draw a lighthouse and also a short video of waves", {}, ["generate_image", "generate_video"]),
    ("a red fox photo, then a video of the fox running", {}, ["generate_image", "image_to_video"]),
    # numbered steps
    ("1) a city at night 2) make it rain 3) animate it", {}, ["generate_image", "edit", "image_to_video"]),
    ("(1) a red barn (2) upscale it 2x", {}, ["generate_image", "upscale"]),
    ("upscale clip.mp4 2x and then smooth it out", {}, "refuse"),  # frame interpolation needs a node pack
    # "another from b.png", "the same for b.png": the step before again, on another input
    (
        "make a 3 second clip from a.png and another from b.png, then join them",
        {},
        ["image_to_video", "image_to_video", "join"],
    ),
    ("upscale a.png 2x and the same for b.png", {}, ["upscale", "upscale"]),
    ("animate cat.png for 2 seconds, and one more from dog.png", {}, ["image_to_video", "image_to_video"]),
    ("make a clip from a.png and another clip of a dog running", {}, ["image_to_video", "generate_video"]),
    # terse requests about a given picture
    ("2x", {"img.png": "image"}, ["upscale"]),
    ("photo.png x4 please", {}, ["upscale"]),
    ("bigger please", {"img.png": "image"}, ["upscale"]),
    ("generate a fox, then 2x", {}, ["generate_image", "upscale"]),
    ("make the dog bigger", {"img.png": "image"}, ["edit"]),
    ("make it anime", {"img.png": "image"}, ["restyle"]),
    ("make this watercolor", {"img.png": "image"}, ["restyle"]),
    ("make it snow", {"img.png": "image"}, ["edit"]),
    ("remove background", {"img.png": "image"}, "refuse"),  # a cut-out needs a segmentation node pack
    ("remove the background from product.jpg", {}, "refuse"),
]


@pytest.mark.parametrize(("text", "files", "want"), OTHER_PHRASINGS, ids=[p[0][:50] for p in OTHER_PHRASINGS])
def test_other_phrasings(text: str, files: dict[str, str], want: Any) -> None:
    if want == "refuse":
        with pytest.raises(MissingCapability):
            compose_request(text, CATALOG, files=files)
        return
    assert compose_request(text, CATALOG, files=files).plan.operations() == want


@pytest.mark.parametrize(
    ("text", "files", "on_picture"),
    [
        ('write "Happy Birthday" on the picture', {"cake.png": "image"}, "cake.png"),
        ('add the words "OPEN 24H" to it', {"door.jpg": "image"}, "door.jpg"),
        ('a poster with the text "OPEN"', {"a.png": "image"}, None),
        ('a neon sign that says "BAR"', {}, None),
    ],
)
def test_text_goes_onto_the_given_picture_unless_a_new_one_is_asked(
    text: str, files: dict[str, str], on_picture: str | None
) -> None:
    step = compose_request(text, CATALOG, files=files).plan.steps[0]
    assert step.op == "render_text"
    assert step.inputs.get("image") == on_picture


@pytest.mark.parametrize(
    ("text", "prompt", "sides"),
    [
        ("extend the sides of wide.png with more forest", "forest", ("left", "right")),
        ("give beach.jpg more sand and sea on both sides", "sand and sea", ("left", "right")),
        ("show more sky above the mountain in alps.png", "sky", ("top",)),
        ("photo.png needs more headroom", "", ("top",)),
    ],
)
def test_an_outpaint_prompts_for_what_fills_the_new_canvas(
    text: str, prompt: str, sides: tuple[str, ...]
) -> None:
    step = compose_request(text, CATALOG).plan.steps[0]
    assert step.op == "outpaint"
    assert step.params.get("prompt", "") == prompt
    assert {s for s in ("left", "top", "right", "bottom") if step.params.get(s)} == set(sides)
