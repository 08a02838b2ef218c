"""The planner's vocabulary, as data: trigger phrases per operation and the words of its parameters.

A phrase is lowercase words separated by single spaces; `~` stands for up to three other words and a trailing
`*` for any word ending ("upscal*" = upscale, upscaled, upscaling). `phrase_pattern` turns a list of phrases
into one regular expression without nested unbounded quantifiers, so matching stays linear.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Operation -> trigger phrases. Order of OPERATION_ORDER decides which operation a clause is, when several match.
TRIGGERS: dict[str, list[str]] = {
    "join": [
        "join", "joins", "joined", "joining", "concatenate*", "combine ~ clips", "combine ~ videos", "combine them",
        "stitch ~ together", "splice*", "merge ~ clips", "merge ~ videos", "merge them", "put ~ together",
        "one after the other", "back to back", "into one video", "into a single video", "into one clip",
        "into a single clip", "chain ~ clips", "append",
    ],
    "interpolate": [
        "interpolat*", "rife", "film vfi", "smoother", "smooth out", "smooth ~ motion", "more frames",
        "double the frame rate", "double the framerate", "double the fps", "triple the frame rate",
        "higher frame rate", "higher framerate", "increase the frame rate", "increase the framerate", "slow motion",
        "slow-motion", "slowmo", "slo-mo", "in-between frames", "inbetween frames", "tween*",
    ],
    "face_detail": [
        "face detail*", "facedetailer", "adetailer", "fix ~ face", "fix ~ faces", "restore ~ face",
        "restore ~ faces", "face restor*", "enhance ~ face", "enhance ~ faces", "detail ~ face", "detail ~ faces",
        "sharpen ~ face", "sharpen ~ faces", "repair ~ face", "repair ~ faces", "improve ~ face", "improve ~ faces",
        "refine ~ face", "refine ~ faces", "clean up ~ face", "clean up ~ faces", "better faces", "face fix",
    ],
    "segment": [
        "segment*", "cut out", "cut-out", "cutout", "transparent background", "background removal",
        "remove the background and make it transparent", "isolate ~ subject", "isolate the", "alpha matte",
        "make a mask", "mask of the", "mask for the", "extract ~ subject", "extract the", "rembg", "matting",
        "sam mask", "select the",
    ],
    "upscale": [
        "upscal*", "up-scal*", "up scale", "upres", "up-res", "uprez", "enlarg*", "make it ~ bigger", "make it ~ larger",
        "make the image ~ bigger", "make the picture ~ bigger", "make the photo ~ bigger", "make this ~ bigger",
        "make them ~ bigger", "make the result ~ bigger", "make the image ~ larger", "make the picture ~ larger",
        "increase ~ resolution", "higher resolution", "higher-resolution", "hi-res", "hires", "high res",
        "super resolution", "super-resolution", "superres", "esrgan", "blow ~ up", "scale ~ up", "scale up",
        "double ~ resolution", "double ~ size", "triple ~ resolution", "quadruple ~ resolution", "more pixels",
        "resolution boost", "boost ~ resolution", "x resolution", "resize", "scale it", "scale the",
    ],
    "outpaint": [
        "outpaint*", "out-paint*", "widen*", "extend*", "expand*", "uncrop*", "zoom out", "make ~ wider",
        "make ~ taller", "add ~ space", "more room", "more canvas", "bigger canvas", "larger canvas", "pad the",
        "continue the scene", "more sky", "more of the",
    ],
    "inpaint": [
        "inpaint*", "in-paint*", "masked area", "masked region", "masked part", "the mask", "using mask",
        "with mask", "where the mask", "inside the mask", "within the mask", "mask area",
    ],
    "control": [
        "same pose", "same posture", "pose of", "pose from", "pose as", "keep the pose", "keeping the pose",
        "keep ~ pose", "match ~ pose", "copy ~ pose", "follow ~ pose", "following ~ pose", "posed like",
        "openpose", "pose map", "pose skeleton", "depth map", "depth of", "depth from", "same depth",
        "using ~ depth", "keep ~ depth", "same composition", "same layout", "keep ~ composition", "keep ~ layout",
        "canny", "edge map", "edges of", "edges from", "outlines of", "outline of", "line art", "lineart",
        "same structure", "keep ~ structure", "keep the edges", "controlnet", "control net", "scribble*",
        "sketch*", "doodle*", "rough drawing", "based on the drawing", "from my drawing", "from this drawing",
        "following the lines",
    ],
    "style": [
        "in the style of", "style of", "styled like", "styled after", "style from", "same style", "style as",
        "style reference", "match ~ style", "matching ~ style", "copy ~ style", "borrow ~ style", "take ~ style",
        "using ~ style", "with ~ style", "look like", "looks like", "aesthetic of", "in the manner of",
        "inspired by", "redux",
    ],
    "render_text": [
        "with the text", "with text", "the words", "that says", "that reads", "which says", "which reads",
        "saying", "reading", "lettering", "caption*", "headline", "title text", "typography", "written",
        "write", "writes", "spelling", "spells", "the text",
    ],
    "image_to_video": [
        "animat*", "bring ~ to life", "brought to life", "come alive", "comes alive", "coming alive",
        "come to life", "comes to life", "make ~ move", "set ~ in motion", "into a clip", "into a video",
        "into an animation", "into a ~ clip", "into a ~ video", "into a ~ animation", "into motion",
        "image to video", "image-to-video", "img2vid", "i2v", "video from", "clip from", "video of it",
        "clip of it", "make it a video", "make it a clip", "living photo", "cinemagraph",
    ],
    "video_to_video": [
        "restyle*", "re-style*", "video to video", "video-to-video", "v2v", "vid2vid", "keep the motion",
        "keeping the motion", "same motion", "keep ~ movement", "keeping ~ movement", "turn ~ into", "make ~ look",
        "convert ~ into", "convert ~ to", "transform ~ into", "as a", "as an",
    ],
    "edit": [
        "erase*", "remov*", "get rid of", "take out", "take away", "delete*", "replac*", "swap*", "chang*",
        "recolo*", "turn the", "turn his", "turn her", "turn its", "make the", "make his", "make her",
        "make him", "make them", "make it", "add*", "put*", "place*", "insert*", "give", "edit*", "fix the",
        "relight*", "older", "younger", "age*", "dress*", "wearing", "wear", "paint the", "colour", "color",
        "without the", "no longer", "instead of", "clean up", "retouch*",
    ],
    "lora": ["lora", "loras", "lycoris", "locon"],
}

# A clause that names one of these is about producing a clip, not a picture.
VIDEO_NOUNS = [
    "video*", "clip", "clips", "animation*", "footage", "movie*", "film", "films", "timelapse", "time-lapse",
    "gif", "b-roll", "reel", "short",
]
IMAGE_NOUNS = [
    "image*", "picture*", "photo*", "illustration*", "poster*", "drawing*", "painting*", "wallpaper*", "logo*",
    "render*", "still*", "artwork*", "icon*", "portrait*", "sticker*", "banner*", "pic", "pics",
]
# Words that start a new step when a clause continues after "and" or a comma.
STEP_VERBS = [
    "then", "also", "upscal*", "enlarg*", "animat*", "bring", "turn", "make", "erase*", "remov*", "get rid",
    "take out", "delete*", "replac*", "swap*", "chang*", "add*", "put*", "widen*", "extend*", "expand*",
    "outpaint*", "inpaint*", "interpolat*", "join*", "combine*", "concatenate*", "merge*", "stitch*", "fix",
    "restore", "enhance", "segment*", "cut", "isolate", "restyle*", "convert*", "transform*", "double",
    "increase", "scale", "resize", "apply", "use", "recolo*", "relight*", "smooth*", "upres", "blow", "finally",
    "save", "render", "export", "give", "paint", "apply",
]
# Chain separators that always end a step ("first ..., then ..., finally ...").
SEPARATORS = [
    "and then", "then", "after that", "afterwards", "afterward", "after which", "once done", "once that's done",
    "when done", "finally", "lastly", "followed by", "and finally", "as a last step", "step 2",
    "step 3", "step two", "step three", "secondly", "thirdly", "subsequently",
]
LEADING_FILLER = [
    "first", "firstly", "first of all", "to start", "please", "pls", "kindly", "can you", "could you",
    "would you", "i want you to", "i want to", "i'd like you to", "i'd like to", "i would like to", "i need you to",
    "i need to", "help me", "go ahead and", "and", "also", "step 1", "step one", "ok", "okay", "now", "then",
]

WORD_NUMBERS = {
    "one": 1, "a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "half a": 0.5,
}
FACTOR_WORDS = {"double": 2, "twice": 2, "doubled": 2, "triple": 3, "tripled": 3, "treble": 3, "quadruple": 4}
SIDE_WORDS = {
    "left": ("left",), "right": ("right",), "top": ("top",), "bottom": ("bottom",), "above": ("top",),
    "below": ("bottom",), "upward*": ("top",), "downward*": ("bottom",), "up": ("top",), "down": ("bottom",),
    "sky": ("top",), "ground": ("bottom",), "floor": ("bottom",), "ceiling": ("top",),
    "sides": ("left", "right"), "horizontal*": ("left", "right"), "wider": ("left", "right"),
    "widen*": ("left", "right"), "width": ("left", "right"), "landscape": ("left", "right"),
    "vertical*": ("top", "bottom"), "taller": ("top", "bottom"), "height": ("top", "bottom"),
    "all sides": ("left", "top", "right", "bottom"), "every side": ("left", "top", "right", "bottom"),
    "each side": ("left", "top", "right", "bottom"), "all around": ("left", "top", "right", "bottom"),
    "all directions": ("left", "top", "right", "bottom"), "every direction": ("left", "top", "right", "bottom"),
    "zoom out": ("left", "top", "right", "bottom"),
}
CONTROL_KINDS = {
    "pose": ["pose*", "posture", "openpose", "skeleton", "stance", "position of the body", "body position"],
    "depth": ["depth*", "composition", "layout", "3d structure", "spatial"],
    "scribble": ["scribble*", "sketch*", "doodle*", "rough drawing", "my drawing", "this drawing", "line drawing"],
    "canny": ["canny", "edge*", "outline*", "line art", "lineart", "lines", "structure", "contours"],
}
MAP_WORDS = ["pose map", "depth map", "edge map", "canny map", "skeleton image", "openpose image", "already a",
             "is a pose", "is a depth", "control image", "preprocessed"]
UPSCALE_MODEL_WORDS = ["esrgan", "with a model", "using a model", "ai upscal*", "model upscal*", "upscale model",
                       "upscaling model", "neural", "realesrgan", "4x-ultrasharp", "ultrasharp"]
UPSCALE_RESAMPLE_WORDS = ["lanczos", "bicubic", "bilinear", "nearest", "resample", "without a model", "no model",
                          "simple resize", "plain resize", "model-free", "model free", "just resize"]
SUBTLE_WORDS = ["subtle", "subtly", "slight*", "a little", "a bit", "gently", "light touch", "lightly"]
STRONG_WORDS = ["strong*", "complete*", "heavily", "heavy", "drastic*", "totally", "fully"]
FAMILY_WORDS = {
    "flux": ["flux", "kontext"], "sdxl": ["sdxl", "sd xl"], "sd15": ["sd1.5", "sd 1.5", "sd15", "stable diffusion 1.5"],
    "qwen_image": ["qwen"], "hunyuan_video": ["hunyuan"], "wan21": ["wan", "wan2.1", "wan 2.1", "vace"],
}


def _phrase(phrase: str) -> str:
    parts: list[str] = []
    for word in phrase.split(" "):
        if word == "~":
            parts.append(r"(?:[^ ]+ ){0,3}")
            continue
        if word.endswith("*"):
            parts.append(re.escape(word[:-1]) + r"[a-z'-]*")
        else:
            parts.append(re.escape(word))
        parts.append(" ")
    return "".join(parts).rstrip(" ")


def phrase_pattern(phrases: Sequence[str]) -> re.Pattern[str]:
    """One regex for a list of phrases, matched on whole words of normalised (lowercase, single-spaced) text."""
    body = "|".join(sorted((_phrase(p) for p in phrases), key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])")


def phrase_body(phrases: Sequence[str]) -> str:
    """The alternation of `phrase_pattern` without its word boundaries (for lookaheads)."""
    return "|".join(sorted((_phrase(p) for p in phrases), key=len, reverse=True))


# Words before the subject of a generation request, stripped from the prompt ("please make me a picture of").
PROMPT_LEADS = [
    "please", "pls", "kindly", "can you", "could you", "would you", "i want", "i need", "i'd like", "i would like",
    "make me", "make", "generate", "create", "draw", "paint", "render", "produce", "give me", "show me", "design",
    "illustrate", "shoot", "film", "me", "now", "ok", "okay", "first", "firstly", "to start", "also", "and",
    "then", "just", "quickly", "go ahead and", "help me", "us", "let's", "lets", "want", "to", "as", "into",
    "like",
]
POLITE = ["please", "pls", "kindly", "can you", "could you", "would you", "i want you to", "i'd like you to",
          "i need you to", "go ahead and", "now", "ok", "okay", "also", "and", "then", "just", "first", "firstly"]
V2V_MARKERS = ["restyle*", "re-style*", "video to video", "video-to-video", "v2v", "vid2vid", "keep the motion",
               "keeping the motion", "same motion", "keep ~ movement", "keeping ~ movement"]
MEDIA_LEADS = [
    "a picture of", "an image of", "a photo of", "a photograph of", "an illustration of", "a painting of",
    "a drawing of", "a render of", "a video of", "a clip of", "an animation of", "a movie of", "a film of",
    "footage of", "a shot of", "a scene of", "a poster of", "a portrait of", "pictures of", "images of",
    "a short video of", "a short clip of", "a quick clip of", "a gif of", "a timelapse of",
]
TRAILING_STOP = {
    "from", "in", "of", "on", "to", "the", "using", "with", "by", "at", "and", "it", "as", "into", "for", "a",
    "an", "this", "that", "image", "picture", "photo", "then", "please", "file", "its", "is", "named", "called",
}
