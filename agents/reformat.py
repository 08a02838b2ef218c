"""Reformat: a plain-language request -> `Intent`. Planner (parser, no network) and LLM strategies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from agents.compose import vocabulary as vocab
from agents.compose.clauses import GAP, LANG_LEAD, close_gaps, correct_typos
from agents.compose.errors import MissingCapability
from agents.defaults import default_family, default_size
from agents.errors import IntentError
from agents.families import intent_family
from agents.intent import INTENT_JSON_SCHEMA, TASKS, VIDEO_TASKS, Intent, ModelFamily, Task
from agents.llm import LLMClient, load_prompt
from agents.normalize import (
    clamp_numbers,
    finalize,
    provided_inputs,
    size_for,
    validated,
)
from agents.parsing import Parsed, hex_color, parse_request
from agents.structured import as_sentence

MAX_BATCH = 16  # pictures or clips made at once: more is a queue of jobs, not one graph


class ReformatAgent(Protocol):
    name: str

    async def reformat(self, prompt: str, overrides: Mapping[str, Any] | None = None) -> Intent: ...


_VIDEO = (
    r"videos?|vids?|clips?|animations?|animated|footage|movies?|films?|timelapse|time-lapse|b-roll|"
    r"scenes?\s+of\s+moving|(?:moving|motion)\s+pictures?|gif"
)
_IMAGE = (
    r"images?|pictures?|photos?|photographs?|illustrations?|posters?|drawings?|paintings?|wallpapers?|logos?|"
    r"renders?|stills?|artworks?|icons?|portraits?|headshots?|thumbnails?|maps?|diagrams?|infographics?|"
    r"sprites?|stickers?|banners?|png|jpe?g|pics?|selfies?|sketch(?:es)?|doodles?|variations|variants|(?:instagram|insta|facebook|linkedin|social[\s-]media)\s+posts?"
)
_VIDEO += "|" + vocab.phrase_body(vocab.LANG_VIDEO_NOUNS)  # "vidéo", "película": other languages' words
_IMAGE += "|" + vocab.phrase_body(vocab.LANG_IMAGE_NOUNS)
# Asking for movement of a given picture: with an input image these mean image-to-video.
_MOTION = (
    r"\b(?:animate[ds]?|animating|come\s+(?:a)?live|to\s+life|motion|move[sd]?|moving|movement|"
    r"zoom(?:s|ing)?\s+(?:in|out)|frames?)\b"
    + "|(?<![a-z0-9])(?:"
    + vocab.phrase_body(
        [
            *(f"{v} {r}" for v in vocab.LANG_ANIMATE for r in vocab.LANG_THIS),
            *set(vocab.LANG_ANIMATE) - {"anime"},
        ]
    )
    + ")(?![a-z0-9])"
)
_CUES: list[tuple[Task, str]] = [
    (
        "upscale",
        r"\b(?:upscal\w*|super[\s-]?resolution|enlarge|increase\s+(?:the\s+)?resolution|esrgan|"
        r"make\s+(?:\w+\s+){1,3}(?:\w+\s+times\s+)?(?:bigger|larger)|\d+(?:\.\d+)?\s*(?:x|times)\s+(?:bigger|larger))\b",
    ),
    (
        "test-video",
        rf"\b(?:test|dummy|placeholder|sample|solid[\s-]colou?r|model[\s-]free|blank)\b[^.]*?\b(?:{_VIDEO})\b",
    ),
    ("test-video", rf"\b(?:{_VIDEO})\b[^.]*?\b(?:solid|blank|plain)\s+(?:\w+\s+)?(?:frames?|colou?r)"),
    (
        "test-image",
        rf"\b(?:test|dummy|placeholder|solid[\s-]colou?r|model[\s-]free|blank)\b[^.]*?\b(?:{_IMAGE})\b",
    ),
    (
        "image-to-video",
        r"\b(?:animate|bring\s+\S+\s+to\s+life|image[\s-]to[\s-]video|i2v|make\s+\S+\s+move)\b",
    ),
    ("video-to-video", r"\b(?:video[\s-]to[\s-]video|v2v|restyle\s+(?:this|the|my)\s+(?:video|clip))\b"),
    (
        "image-to-image",
        r"\b(?:image[\s-]to[\s-]image|img2img|i2i|restyle\s+(?:this|the|my)\s+(?:image|photo|picture))\b",
    ),
]
# The planner's family words (`vocabulary.json`), one list for both readers of the request.
_FAMILIES = [(family, vocab.phrase_pattern(words)) for family, words in vocab.FAMILY_WORDS.items()]
_FAMILY_USE = re.compile(
    r"(?<![a-z0-9])(?:(?:using|with|in|on|via) (?:the )?)?(?:"
    + vocab.phrase_body([w for words in vocab.FAMILY_WORDS.values() for w in words])
    + r")(?: model)?(?![a-z0-9])"
)
_LEADING = re.compile(
    r"^(?:(?:please|pls|kindly|hey|hi|hello|ok|okay|imagine|picture\s+this|envision)[\s,!.:]+)*(?:(?:can|could|would)\s+(?:you|u)\s+"
    r"(?:(?:maybe|please|pls|just)\s+)?)?(?:(?:i|we)(?:\s+(?:really\s+)?(?:want|need|would\s+like)|'d\s+like)"
    r"(?:\s+(?:very\s+much|so\s+much|really))?(?:\s+to\s+(?:see|get|have))?|(?:i'm\s+)?looking\s+for|"
    r"give\s+me|gimme|show\s+me|make\s+me|make|generate|create|render|produce|draw|paint|do|"
    r"animate|film|shoot|upscale|restyle)?\s*(?:(?:me|it|this|them)\s+)?(?:an?|the|some|one)?\s*(?:(?:short|quick|long|little|"
    r"small|simple|high[\s-]quality|beautiful|nice|new|looping|looped|seamless)\s+)*(?:(?:test|dummy|placeholder|sample)\s+)?(?:"
    # only the generic media nouns: "timelapse", "painting", "poster" ... describe the content and stay
    r"videos?|vids?|clips?|movies?|films?|animations?|gifs?|images?|pictures?|pics?|photos?|photographs?|"
    r"stills?|selfies?|"
    r"variations|versions|variants|takes"  # after a count consumed as the batch ("3 variations of a logo")
    r")?(?![\s-]+games?\b)\s*,?\s*(?:of|showing|about|with|where(?:\s+(?:there\s+)?(?:is|are))?|in\s+which|that\s+shows|depicting|:|"
    r"(?:subject|prompt|scene|description)\s*:)?\s+",
    re.I,
)


# A video word that names no output: a thing ("a video game character", "a video call") or what the output is
# for ("a thumbnail for my video", "a poster for our film")
_NOT_OUTPUT = re.compile(
    r"\bvideo[\s-]?games?\b|\bvideo\s+(?:calls?|chats?|cameras?|editors?|players?|stores?|cards?|tapes?)\b"
    rf"|\b(?:for|about)\s+(?:my|our|your|his|her|their|a|an|the)\s+(?:[a-z]+\s+)?(?:{_VIDEO})\b",
    re.I,
)


def detect_task(
    text: str,
    parsed: Parsed,
    *,
    image: bool = False,
    video: bool = False,
    family: ModelFamily | str | None = None,
) -> Task:
    """The task the text asks for. `image` / `video`: an input file of that kind comes with the request
    (besides any the text names), so "animate this photo" means image-to-video, not a new video. `family`:
    the family asked for; a bare description for an image-only family (sd15, sdxl, flux) is a picture."""
    lowered = text.lower()
    image = image or bool(parsed.images)
    video = video or bool(parsed.videos)
    has_video_word = bool(re.search(rf"\b(?:{_VIDEO})\b", _NOT_OUTPUT.sub(" ", lowered)))
    for task, pattern in _CUES:
        if re.search(pattern, lowered):
            if task == "image-to-video" and not (image or has_video_word):
                continue
            if task == "upscale" and video and not image:
                continue  # no video upscale template: a given video is restyled
            return task
    has_image_word = bool(re.search(rf"\b(?:{_IMAGE})\b", lowered) or _PICTURE_VERB.search(lowered))
    timed = any(k in parsed.numbers for k in ("duration", "frames", "fps"))
    if video:
        return "video-to-video"
    if image:
        moving = has_video_word or timed or bool(re.search(_MOTION, lowered))
        return "image-to-video" if moving else "image-to-image"
    if has_image_word and not has_video_word and not timed:
        return "text-to-image"
    if family in _IMAGE_ONLY_FAMILIES and not has_video_word and not timed:
        return "text-to-image"  # "a lighthouse, sd15": the family makes pictures only
    return "text-to-video"  # the platform's main product; a bare description is a video request


# "draw a hamster", "paint me a sunset": verbs that make a picture, whatever it shows
_PICTURE_VERB = re.compile(
    r"\b(?:draw|paint|sketch|illustrate|photograph)\s+(?:(?:me|us)\s+)?(?:an?|the|some|my|our|\d+|two|three|four)\b"
)
_IMAGE_ONLY_FAMILIES = frozenset({"sd15", "sdxl", "flux", "qwen-image"})


def detect_family(text: str) -> ModelFamily | None:
    low = " ".join(text.lower().split())
    for family, pattern in _FAMILIES:
        if pattern.search(low):
            return intent_family(family)
    return None


_TRAILING = re.compile(
    # "... into a video" closes a request; a bare trailing "in"/"by" is the user's ("zooms in"): the parser
    # already removed the connectors that introduced the phrases it consumed.
    # Starts only after a non-space: a leftmost match always does, and a start inside every run of spaces
    # made it quadratic.
    rf"(?<!\s)(?:(?:^|\s+)(?:into|as|to|in)\s+(?:an?\s+)?(?:{_VIDEO}|{_IMAGE}))?(?:(?:^|\s+)(?:using|with|of|and|for|please|pls|thx|thanks))*\s*$",
    re.I,
)


# The task named outright ("image to video:", "img2img") says what to do, not what to show.
_TASK_WORDS = re.compile(
    r"\b(?:(?:text|image|img|video)[\s-]+to[\s-]+(?:image|img|video)|i2v|v2v|i2i|t2v|t2i|img2img)\b\s*:?",
    re.I,
)


# A clause that only names the kind of output ("..., video, ...") says what to make, not what to show (a
# content noun alone, "a logo", "a poster", is the subject).
_LONE_MEDIA = re.compile(
    r"(?:^|(?<=[^\w\s-]))\s*(?:(?:an?|the)\s+)?(?:videos?|vids?|clips?|footage|animations?|gifs?|images?|"
    r"pictures?|pics?|photos?|photographs?|stills?)\s*(?=[^\w\s(-]|$)",
    re.I,
)

# "I'm making a birthday card for my grandma. Could you create ...": the first sentence says what the picture
# is for; the request follows it
_CONTEXT_SENTENCE = re.compile(
    r"^(?:" + vocab.phrase_body(vocab.CONTEXT_LEADS) + r")(?![a-z0-9])[^.!?\n]{0,300}[.!?\n]+\s*(?=\S)", re.I
)

_LOOKS_LIKE = re.compile(
    r"^(?:what|how)\s+(?:would|does|might|could|will)\s+(?P<x>[^?!.]{1,200}?)\s+look(?:\s+like)?\s*[?!.]*"
    r"(?:\s*(?:show|draw|paint|render|imagine)\s+(?:me|it|us|that|this)\b)?[\s?!.]*$",
    re.I,
)

_PRONOUNS = frozenset({"it", "this", "that", "them", "this one", "that one"})


def clean_prompt(rest: str) -> str:
    rest = _TASK_WORDS.sub(" ", rest)
    # "Video \u2014 4s \u2014 a bird": a dash between spaces separates like a comma
    rest = re.sub(r"\s*,(?:\s*,)+", ",", re.sub(r"\s+[\u2014\u2013](?=\s)", ",", f" {rest} ")).strip(" ,")
    rest = _LOOKS_LIKE.sub(r"\g<x>", rest.strip())  # "what would a purple tiger look like? show me"
    rest = _CONTEXT_SENTENCE.sub("", rest.strip())
    # the family words are a model choice, not picture content: "a flux image of" reads "an image of"
    rest = close_gaps(_drop_family(" ".join(rest.split())))
    rest = re.sub(r"\s{2,}", " ", rest)
    for _ in range(2):
        rest = LANG_LEAD.sub("", rest.strip())
        rest = _LEADING.sub("", rest.strip() + " ").strip()
    rest = _TRAILING.sub("", rest.strip(" ,.;:-?!")).strip(" ,.;:-?!")
    rest = re.sub(r"\(\s*\)|\[\s*\]", "", _LONE_MEDIA.sub("", rest))  # "a desert road, video, 4 s"
    rest = rest.strip(" ,.;:-?!")
    if re.fullmatch(r'"[^"]+"', rest):  # 'Prompt: "a red panda"': the quotes frame the whole description
        rest = rest[1:-1].strip()
    return "" if rest.lower() in _PRONOUNS else rest  # "animate it": nothing described


def _drop_family(text: str) -> str:
    """`text` (one-spaced) with its family words marked as `GAP`s (case kept: the match runs on a lowercase
    copy of the same length)."""
    keep = list(text)
    for m in _FAMILY_USE.finditer(text.lower()):
        keep[m.start() : m.end()] = GAP * (m.end() - m.start())
    return "".join(keep)


# What the request asks to be made, when it is an output no graph here makes ("make a song about cats",
# "generate a 3d model of a chair", "write me a poem"): at the head of the request, up to two words before it.
_ASKED_HEAD = (
    r"^(?:(?:please|pls|hey|hi|ok|okay)[\s,!]+)*(?:(?:can|could|would)\s+(?:you|u)\s+)?(?:(?:please|just)\s+)?"
    r"(?:(?:make|generate|create|produce|write|compose|sing|record|narrate|give|render|do|draft|"
    r"i\s+(?:want|need)|i'd\s+like|i\s+would\s+like)\s+(?:me\s+|us\s+)?)?(?:(?:an?|the|some|one)\s+)?"
    r"(?:(?![\w'-]+ing\b)[\w'-]+\s+){0,2}?"  # "a catchy song", never "a cat playing music"
)
# the output named is the thing made, not a word describing another ("a music box", "a mesh fence")
_ASKED_END = (
    r"(?![\w-])(?=\s*$|\s*[,.!?;:]|\s+(?:of|about|for|with|that|which|in|on|to|from|where|featuring)\b)"
)
_UNSUPPORTED = [
    (kind, re.compile(_ASKED_HEAD + rf"(?:{vocab.phrase_body(words)})s?{_ASKED_END}", re.I))
    for kind, words in vocab.UNSUPPORTED_OUTPUTS.items()
]
_KIND_NAMES = {"audio": "audio (music, speech, sound)", "3d": "3D models", "text": "text"}
_SOUND = re.compile(
    r"\b(?:with|plus|and|including)\s+(?:(?:a|an|some|the)\s+)?(?:\w+\s+)?"
    r"(?:sound|sounds|audio|music|soundtrack|voice\s*over|voiceover|narration|dialogue|speech)\b",
    re.I,
)


def refuse_unsupported(text: str, task: Task) -> list[str]:
    """`MissingCapability` for a request whose output is audio, a 3D model or text (no ComfyUI graph of
    this gateway makes them: a picture or a video in their place would be a wrong answer). A video asked
    "with sound" is made silent, with a warning (returned)."""
    lowered = " ".join(text.lower().split())
    media = re.search(rf"\b(?:{_VIDEO}|{_IMAGE})\b", lowered) is not None
    for kind, pattern in _UNSUPPORTED:
        if not media and (m := pattern.search(lowered)) is not None:
            raise MissingCapability(
                f"{m.group(0).strip()!r} asks for {_KIND_NAMES[kind]}, which this gateway's ComfyUI "
                "workflows do not make: ask for an image or a video ('a picture of ...', "
                "'a 5 second video of ...')",
                operation=f"generate_{kind}",
            )
    if task in VIDEO_TASKS and (m := _SOUND.search(lowered)) is not None:
        return [f"the video is silent: {m.group(0)!r} needs audio generation, which the workflows do not do"]
    return []


class PlannerReformat:
    """Deterministic: the parser in `agents.parsing` plus task and family detection."""

    name = "planner"

    async def reformat(self, prompt: str, overrides: Mapping[str, Any] | None = None) -> Intent:
        return reformat_text(prompt, overrides)


def reformat_text(prompt: str, overrides: Mapping[str, Any] | None = None) -> Intent:
    text = (prompt or "").strip()
    if not text:
        raise IntentError(
            "the prompt is empty: describe what to generate, e.g. 'a cat surfing, 3 seconds, 720p'"
        )
    if len(text) > 4000:
        raise IntentError("the prompt is longer than 4000 characters")
    text = correct_typos(as_sentence(text))  # fields read as prose; "a vidoe of": one-slip corrections
    parsed = parse_request(text)
    given = provided_inputs(overrides)
    forced = (overrides or {}).get("task")
    family = (overrides or {}).get("model_family") or detect_family(text)
    task: Task = detect_task(text, parsed, image="image" in given, video="video" in given, family=family)
    for known in TASKS:
        if known == forced:
            task = known
    warnings = refuse_unsupported(text, task)
    numbers = clamp_numbers(parsed.numbers, warnings)
    data: dict[str, Any] = {
        "task": task,
        "prompt": clean_prompt(parsed.rest),
        "negative_prompt": ", ".join(parsed.negative),
        "model_family": detect_family(text),
        "style": ", ".join(parsed.styles) or None,
        "input_image": parsed.images[0] if parsed.images else None,
        "input_video": parsed.videos[0] if parsed.videos else None,
        "output_format": parsed.output_format,
        "model_files": parsed.model_files,
        "color": parsed.color,
    }
    if "duration" in numbers:
        data["duration"] = numbers["duration"]
    if "frames" in numbers:
        data["frames"] = int(numbers["frames"])
    if "fps" in numbers:
        data["fps"] = numbers["fps"]
    if "steps" in numbers:
        data["steps"] = int(numbers["steps"])
    if "seed" in numbers:
        data["seed"] = int(numbers["seed"])
    if "guidance" in numbers:
        data["guidance"] = numbers["guidance"]
    if "denoise" in numbers:
        data["denoise"] = numbers["denoise"]
    if "batch" in numbers:  # the latent's batch: every widget of that name takes it (apply_intent)
        data["extra_params"] = {"batch_size": min(int(numbers["batch"]), MAX_BATCH)}
        if numbers["batch"] > MAX_BATCH:
            warnings.append(
                f"a batch of {numbers['batch']:g} is above the supported maximum; using {MAX_BATCH}"
            )
    if "upscale" in numbers and task in {"upscale", "image-to-image"}:
        data["upscale_factor"] = numbers["upscale"]
    if task in {"test-video", "test-image"}:
        data["model_family"] = "none"
        if data["color"] is None:
            data["color"] = 0
        data["prompt"] = f"solid {hex_color(data['color'])} {'frames' if task == 'test-video' else 'image'}"
    if task == "upscale":
        data["model_family"] = "none"
    size = _size_from(parsed, default_size(task, data["model_family"] or default_family(task)))
    if size is not None:
        data["width"], data["height"] = size
    data["warnings"] = warnings
    return finalize(validated(data, "the request has values out of range"), overrides)


def _size_from(parsed: Parsed, default: tuple[int, int]) -> tuple[int, int] | None:
    if parsed.width and parsed.height:
        return parsed.width, parsed.height
    if parsed.named_height is None and parsed.aspect is None:
        return None
    return size_for(parsed.aspect, parsed.named_height, default)


class LLMReformat:
    """The LLM writes the Intent (JSON Schema of `Intent`); the same `finalize` rules then apply."""

    name = "llm"

    def __init__(self, llm: LLMClient) -> None:
        self.llm = llm

    async def reformat(self, prompt: str, overrides: Mapping[str, Any] | None = None) -> Intent:
        if not (prompt or "").strip():
            raise IntentError("the prompt is empty: describe what to generate")
        answer = await self.llm.complete_json(
            system=load_prompt("reformat.md"), user=prompt, schema=INTENT_JSON_SCHEMA, name="intent"
        )
        if not isinstance(answer, Mapping):
            raise IntentError("the LLM's intent is not a JSON object")
        # a number out of range is the request's, not a malformed answer: clamped as for the planner
        return finalize(validated({**answer, "warnings": []}, "the LLM's intent is invalid"), overrides)
