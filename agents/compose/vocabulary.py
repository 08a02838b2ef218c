"""The planner's vocabulary, as data (`vocabulary.json`): trigger phrases per operation, the words of its
parameters, chain separators and the request phrasing left out of prompts.

A phrase is lowercase words separated by single spaces; `~` stands for up to four other words, a trailing
`*` for any word ending ("upscal*" = upscale, upscaled, upscaling) and `{slot}` for any phrase of the named
word list under "slots" ("turn ~ into ~ {look}": a look such as watercolor, oil painting, anime). A slot's
phrases hold no `~` or slot of their own. `phrase_pattern` turns a list of phrases into one regular
expression without nested unbounded quantifiers, so matching stays linear.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

_DATA: dict[str, Any] = json.loads(
    resources.files("agents.compose").joinpath("vocabulary.json").read_text(encoding="utf-8")
)

TRIGGERS: dict[str, list[str]] = _DATA["triggers"]
VIDEO_NOUNS: list[str] = _DATA["video_nouns"]  # a clause naming one is about a clip
NOT_VIDEO: list[str] = _DATA["not_video"]  # looks that start with a video noun ("film grain")
IMAGE_NOUNS: list[str] = _DATA["image_nouns"]
STEP_VERBS: list[str] = _DATA["step_verbs"]  # after "and" or a comma, these start a new step
SEPARATORS: list[str] = _DATA["separators"]  # always end a step ("then", "finally", ...)
LEADING_FILLER: list[str] = _DATA["leading_filler"]
WORD_NUMBERS: dict[str, float] = _DATA["word_numbers"]
FACTOR_WORDS: dict[str, float] = _DATA["factor_words"]
SIDE_WORDS: dict[str, list[str]] = _DATA["side_words"]
CONTROL_KINDS: dict[str, list[str]] = _DATA["control_kinds"]  # checked in this order
MAP_WORDS: list[str] = _DATA["map_words"]
# said of a given picture, these ask for new pictures like it (unCLIP variations), not an edit of it
VARIATION_WORDS: list[str] = _DATA["variation_words"]
UPSCALE_MODEL_WORDS: list[str] = _DATA["upscale_model_words"]
UPSCALE_RESAMPLE_WORDS: list[str] = _DATA["upscale_resample_words"]
SUBTLE_WORDS: list[str] = _DATA["subtle_words"]
STRONG_WORDS: list[str] = _DATA["strong_words"]
FAMILY_WORDS: dict[str, list[str]] = _DATA["family_words"]
PROMPT_LEADS: list[str] = _DATA["prompt_leads"]
TEXT_CARRIERS: list[str] = _DATA["text_carriers"]  # things that show a quoted text: "a sign "OPEN""
TRAILING_KEEP: list[str] = _DATA["trailing_keep"]  # a verb's own particle ("zooms in") ends a prompt
POLITE: list[str] = _DATA["polite"]
V2V_MARKERS: list[str] = _DATA["v2v_markers"]
MEDIA_LEADS: list[str] = _DATA["media_leads"]
TRAILING_STOP: frozenset[str] = frozenset(_DATA["trailing_stop"])
PLEASANTRIES: list[str] = _DATA["pleasantries"]  # a clause of only these asks for nothing
TYPO_TARGETS: frozenset[str] = frozenset(_DATA["typo_targets"])  # words a one-letter slip is read as
TYPO_KEEP: frozenset[str] = frozenset(_DATA["typo_keep"])  # real words one letter away from a target
SLOTS: dict[str, list[str]] = _DATA["slots"]  # "{name}" in a phrase: any of these phrases
RESTYLE_LIKE: list[str] = _DATA[
    "restyle_like"
]  # a look said of a given picture: restyle it (no reference file)
STYLE_REFERENCE_WORDS: list[str] = _DATA["style_reference_words"]  # a file named before them is a reference
DENOISE_WORDS: list[str] = _DATA["denoise_words"]  # "strength 0.7", "denoise 0.5": how much is redrawn
OBJECT_EDITS: list[str] = _DATA["object_edits"]  # an object edit ("remove the car") is no restyle
# said of a given picture, these ask for more of it beyond its edges ("more beach on both sides"): an outpaint
PICTURE_GROWTH: list[str] = _DATA["picture_growth"]
# with a mask file given, these name the part it marks ("fill the white area with ..."): an inpaint
MASK_FILL: list[str] = _DATA["mask_fill"]
# "more <these> on both sides" grows the picture; "add more trees on the left of the house" edits inside it
GROWTH_NOUNS: list[str] = _DATA["growth_nouns"]
# Outputs no ComfyUI graph of the gateway makes (audio, 3D, text), by kind: asked for, they are refused
UNSUPPORTED_OUTPUTS: dict[str, list[str]] = _DATA["unsupported_outputs"]
# a sentence starting with these says what the picture is for ("I'm making a card"), not what to make
CONTEXT_LEADS: list[str] = _DATA["context_leads"]
# The structure words of es/fr/de/it/pt requests (units, counts, media kinds, shapes, lead-ins), one lexicon
# that both readers of a request use; English keeps its own words above and in `agents.parsing`.
_LANG: dict[str, Any] = _DATA["languages"]
LANG_SECONDS: list[str] = _LANG["seconds"]
LANG_MINUTES: list[str] = _LANG["minutes"]
LANG_NUMBERS: dict[str, int] = _LANG["numbers"]
LANG_VIDEO_NOUNS: list[str] = _LANG["video_nouns"]
LANG_IMAGE_NOUNS: list[str] = _LANG["image_nouns"]
LANG_FPS_UNITS: list[str] = _LANG["fps_units"]  # "images par seconde": frames per second
LANG_FRAME_NOUNS: list[str] = _LANG["frame_nouns"]
LANG_SHAPES: dict[str, list[str]] = _LANG["shapes"]  # square / vertical / horizontal
LANG_ARTICLES: list[str] = _LANG["articles"]
LANG_OF: list[str] = _LANG["of_words"]  # "un video de ...", "ein Bild von ...": what introduces the subject
LANG_POLITE: list[str] = _LANG["polite"]  # "por favor", "bitte": the request's own phrasing
LANG_VERBS: list[str] = _LANG["verbs"]  # "crea", "erstelle", "fais-moi": asking, not describing
LANG_AFTER_DURATION: list[str] = _LANG["after_duration"]  # "5 Sekunden lang"
LANG_THIS: list[str] = _LANG["this_refs"]  # "esta foto", "dieses Bild": the given picture, like "this photo"
LANG_ANIMATE: list[str] = _LANG["animate_verbs"]  # "anima", "animiere": image to video
LANG_CONNECTORS: list[str] = _LANG["connectors"]  # "de 5 segundos", "5 Sekunden lang": go with the figure


def _slot(name: str) -> str:
    words = SLOTS[name]
    if any("~" in w or "{" in w for w in words):
        raise ValueError(f"the slot {name!r} holds a phrase with ~ or a slot")
    return "(?:" + "|".join(sorted((_phrase(w) for w in words), key=len, reverse=True)) + ")"


def _phrase(phrase: str) -> str:
    parts: list[str] = []
    for word in phrase.split(" "):
        if word == "~":
            parts.append(r"(?:[^ ]+ ){0,4}")
            continue
        if word.startswith("{") and word.endswith("}"):
            parts.append(_slot(word[1:-1]))
            parts.append(" ")
            continue
        if word.endswith("*"):
            parts.append(re.escape(word[:-1]) + r"[a-z'-]*")
        else:
            parts.append(re.escape(word))
        parts.append(" ")
    return "".join(parts).rstrip(" ")


def phrase_body(phrases: Sequence[str]) -> str:
    """The alternation of `phrase_pattern` without its word boundaries (for lookaheads)."""
    return "|".join(sorted((_phrase(p) for p in phrases), key=len, reverse=True))


def phrase_pattern(phrases: Sequence[str]) -> re.Pattern[str]:
    """One regex for a list of phrases, matched on whole words of normalised (lowercase, one-spaced) text."""
    return re.compile(rf"(?<![a-z0-9])(?:{phrase_body(phrases)})(?![a-z0-9])")


# "anima esta foto", "animiere das Bild": a verb of animating said of the given picture; "anime" alone is also
# the English style word, so it animates only with the picture named after it
TRIGGERS["image_to_video"] = [
    *TRIGGERS["image_to_video"],
    *(f"{verb} {ref}" for verb in LANG_ANIMATE for ref in LANG_THIS),
    *(verb for verb in LANG_ANIMATE if verb != "anime"),
]
